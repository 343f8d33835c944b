"""Set SELinux's state and policy (Ansible's ansible.posix.selinux), without libselinux.

The runtime state comes from selinuxfs (/sys/fs/selinux), the running policy type from
/etc/selinux/config (as libselinux's selinux_getpolicytype). The config file is edited
atomically; setenforce (a write to /sys/fs/selinux/enforce) happens only where the kernel has
SELinux enabled. `reboot_required`, `changed`, `msg` and the warnings follow Ansible's module
line by line, so a host whose kernel has SELinux off says a reboot is required on every run.
"""

import os
import re

from modules._utils import files

ARGUMENT_SPEC = {
    "policy": {"type": "str"},
    "state": {"type": "str", "required": True, "choices": ["enforcing", "permissive", "disabled"]},
    "configfile": {
        "type": "str",
        "default": "/etc/selinux/config",
        "aliases": ["conf", "file"],
    },
    "update_kernel_param": {"type": "bool", "default": False},
}
SUPPORTS_CHECK_MODE = True
SELINUXFS = "/sys/fs/selinux"
SYSTEM_CONFIG = "/etc/selinux/config"


def read_lines(path):
    try:
        with open(path) as fh:
            return fh.read().splitlines()
    except (IOError, OSError):
        return []


def config_value(lines, key):
    for line in lines:
        if re.match(r"^%s=.*$" % key, line):
            return line.split("=")[1].strip()
    return None


def with_value(lines, key, value):
    """The config lines with KEY=value (replaced in place, else appended)."""
    out, found = [], False
    for line in lines:
        if re.match(r"^%s=.*$" % key, line):
            found = True
            line = "%s=%s" % (key, value)
        out.append(line)
    if not found:
        out.append("%s=%s" % (key, value))
    return out


def runtime():
    """(enabled, state) of the running kernel."""
    enforce = os.path.join(SELINUXFS, "enforce")
    if not os.path.exists(enforce):
        return False, "disabled"
    with open(enforce) as fh:
        return True, "enforcing" if fh.read().strip() == "1" else "permissive"


def setenforce(module, state):
    try:
        with open(os.path.join(SELINUXFS, "enforce"), "w") as fh:
            fh.write("1" if state == "enforcing" else "0")
    except (IOError, OSError) as exc:
        module.fail("setenforce %s failed: %s" % (state, exc))


def main(module):
    params = module.params
    configfile, policy, state = params["configfile"], params["policy"], params["state"]
    if params["update_kernel_param"]:
        module.fail("update_kernel_param needs grubby, which tk's selinux module does not drive")
    runtime_enabled, runtime_state = runtime()
    runtime_policy = config_value(read_lines(SYSTEM_CONFIG), "SELINUXTYPE")
    if not os.path.isfile(configfile):
        module.fail(
            "Unable to find file %s" % configfile,
            details="Please install SELinux-policy package, "
            "if this package is not installed previously.",
        )
    original = read_lines(configfile)
    lines = list(original)
    config_policy = config_value(lines, "SELINUXTYPE")
    config_state = config_value(lines, "SELINUX")
    if state != "disabled" and not policy:
        module.fail("Policy is required if state is not 'disabled'")
    policy = policy or config_policy
    changed, msgs, reboot_required = False, [], False
    if policy != runtime_policy:
        if module.check_mode:
            return _result(True, msgs, params, policy, False, original, lines, module)
        msgs.append("Running SELinux policy changed from '%s' to '%s'" % (runtime_policy, policy))
        changed = True
    if policy != config_policy:
        if not os.path.exists("/etc/selinux/%s/policy" % policy):
            module.fail("Policy %s does not exist in /etc/selinux/" % policy)
        lines = with_value(lines, "SELINUXTYPE", policy)
        if module.check_mode:
            return _result(True, msgs, params, policy, False, original, lines, module)
        msgs.append(
            "SELinux policy configuration in '%s' changed from '%s' to '%s'"
            % (configfile, config_policy, policy)
        )
        changed = True
    if state != runtime_state:
        if runtime_enabled:
            if state == "disabled":
                if runtime_state != "permissive":
                    if not module.check_mode:
                        setenforce(module, "permissive")
                    module.warn(
                        "SELinux state temporarily changed from '%s' to 'permissive'. "
                        "State change will take effect next reboot." % runtime_state
                    )
                    changed = True
                else:
                    module.warn("SELinux state change will take effect next reboot")
                reboot_required = True
            else:
                if not module.check_mode:
                    setenforce(module, state)
                msgs.append("SELinux state changed from '%s' to '%s'" % (runtime_state, state))
                changed = True
        else:
            module.warn("Reboot is required to set SELinux state to '%s'" % state)
            reboot_required = True
    if state != config_state:
        lines = with_value(lines, "SELINUX", state)
        msgs.append("Config SELinux state changed from '%s' to '%s'" % (config_state, state))
        changed = True
    if lines != original and not module.check_mode:
        files.atomic_write(configfile, ("\n".join(lines) + "\n").encode())
    return _result(changed, msgs, params, policy, reboot_required, original, lines, module)


def _result(changed, msgs, params, policy, reboot_required, before, after, module):
    result = {
        "changed": changed,
        "msg": ", ".join(msgs),
        "configfile": params["configfile"],
        "policy": policy,
        "state": params["state"],
        "reboot_required": reboot_required,
    }
    if before != after:
        result["diff"] = {
            "before": "\n".join(before) + "\n",
            "after": "\n".join(after) + "\n",
            "before_header": params["configfile"],
            "after_header": params["configfile"],
        }
    return result
