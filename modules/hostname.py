"""Set the system's hostname (Ansible's hostname): permanent and live, optionally in /etc/hosts.

Strategies: `systemd` (and `debian`, as Ansible) use hostnamectl (static + pretty, then
transient); `generic` writes /etc/hostname and sets the live name with `hostname`; `redhat` does
what generic does and also sets HOSTNAME= in /etc/sysconfig/network. Without `use`, hosts
running systemd get `systemd`, others `redhat` on the RedHat family and `generic` elsewhere.
`update_etc_hosts` (tk only) also points the 127.0.1.1 line of /etc/hosts at the new name.
"""

import os
import re
import socket

from modules._utils import files, systemd

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "use": {"type": "str", "choices": ["systemd", "redhat", "debian", "generic"]},
    "update_etc_hosts": {"type": "bool", "default": False},
}
SUPPORTS_CHECK_MODE = True
NETWORK_FILE = "/etc/sysconfig/network"
HOSTNAME_FILE = "/etc/hostname"
HOSTS_FILE = "/etc/hosts"


class Strategy(object):
    """get/set of the permanent and the live ("current") hostname."""

    def __init__(self, module):
        self.module = module

    def run(self, *argv):
        rc, out, err = self.module.run_command(list(argv))
        if rc != 0:
            self.module.fail("Command failed rc=%d, out=%s, err=%s" % (rc, out, err))
        return out.strip()

    def order(self):
        return ("current", "permanent")


class SystemdStrategy(Strategy):
    """Reads what hostnamectl would report (the kernel's name, /etc/hostname) without waking
    hostnamed; changes go through hostnamectl."""

    def get_current(self):
        return socket.gethostname()

    def set_current(self, name):
        self.run("hostnamectl", "--transient", "set-hostname", name)

    def get_permanent(self):
        for line in _lines(HOSTNAME_FILE):
            if line.strip() and not line.lstrip().startswith("#"):
                return line.strip()
        return ""

    def set_permanent(self, name):
        self.run("hostnamectl", "--pretty", "--static", "set-hostname", name)

    def order(self):
        return ("permanent", "current")  # as Ansible: NetworkManager wants permanent first


class GenericStrategy(Strategy):
    """/etc/hostname plus the `hostname` command for the live name."""

    def get_current(self):
        return self.run("hostname")

    def set_current(self, name):
        self.run("hostname", name)

    def get_permanent(self):
        return "".join(_lines(HOSTNAME_FILE)).strip()

    def set_permanent(self, name):
        files.atomic_write(HOSTNAME_FILE, ("%s\n" % name).encode())


class RedHatStrategy(GenericStrategy):
    """/etc/hostname and HOSTNAME= in /etc/sysconfig/network, plus the live name.

    (Ansible's redhat strategy fails when the file has no HOSTNAME= line, as on EL 9.)"""

    def get_permanent(self):
        for line in _lines(NETWORK_FILE):
            if line.strip().startswith("HOSTNAME="):
                return line.split("=", 1)[1].strip()
        return GenericStrategy.get_permanent(self)

    def set_permanent(self, name):
        GenericStrategy.set_permanent(self, name)
        lines, found = [], False
        for line in _lines(NETWORK_FILE):
            if line.strip().startswith("HOSTNAME="):
                line, found = "HOSTNAME=%s\n" % name, True
            lines.append(line)
        if not found:
            lines.append("HOSTNAME=%s\n" % name)
        files.atomic_write(NETWORK_FILE, "".join(lines).encode())


STRATEGIES = {
    "systemd": SystemdStrategy,
    "debian": SystemdStrategy,
    "redhat": RedHatStrategy,
    "generic": GenericStrategy,
}


def _lines(path):
    try:
        with open(path) as fh:
            return fh.readlines()
    except (IOError, OSError):
        return []


def detect():
    if systemd.systemd_running():
        return "systemd"
    if os.path.exists("/etc/redhat-release") and os.path.exists(NETWORK_FILE):
        return "redhat"
    return "generic"


def hosts_text(text, name):
    """/etc/hosts with its 127.0.1.1 line naming `name` (added if missing)."""
    short = name.split(".")[0]
    entry = "127.0.1.1\t%s" % (name if short == name else "%s %s" % (name, short))
    lines = text.splitlines(True)
    for i, line in enumerate(lines):
        if re.match(r"^\s*127\.0\.1\.1\s", line):
            lines[i] = entry + "\n"
            return "".join(lines)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return "".join(lines) + entry + "\n"


def main(module):
    name = module.params["name"]
    if not name.strip() or len(name) > 64 or re.search(r"\s", name):
        module.fail("invalid hostname %r: 1 to 64 characters, no spaces" % name)
    strategy = STRATEGIES[module.params["use"] or detect()](module)
    current, permanent = strategy.get_current(), strategy.get_permanent()
    changed = False
    for which in strategy.order():
        now = current if which == "current" else permanent
        if now != name:
            changed = True
            if not module.check_mode:
                getattr(strategy, "set_" + which)(name)
    before = current if name != current else permanent
    diff_before, diff_after = "hostname = %s\n" % before, "hostname = %s\n" % name
    if module.params["update_etc_hosts"]:
        old = "".join(_lines(HOSTS_FILE))
        new = hosts_text(old, name)
        if new != old:
            changed = True
            diff_before += old
            diff_after += new
            if not module.check_mode:
                files.atomic_write(HOSTS_FILE, new.encode())
    fqdn = socket.getfqdn()
    result = {
        "changed": changed,
        "name": name,
        "ansible_facts": {
            "ansible_hostname": name.split(".")[0],
            "ansible_nodename": name,
            "ansible_fqdn": fqdn,
            "ansible_domain": ".".join(fqdn.split(".")[1:]),
        },
    }
    if changed:
        result["diff"] = {"before": diff_before, "after": diff_after}
    return result
