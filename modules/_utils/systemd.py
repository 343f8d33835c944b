"""Shared logic of the systemd_service and service modules: systemctl with Ansible's semantics.

`manage(module, params)` does what ansible.builtin.systemd_service does, in its order (daemon
re-exec, daemon reload, masked, enabled, state) and returns its fields: name, changed, status
(the unit's `systemctl show` properties, read before any change), state, enabled. With diff mode
it adds a before/after of the unit's masked/enabled/active state. Stdlib only, Python 3.6+.
"""

import os

ACTIVE = ("active", "activating")


def systemd_running():
    """True when systemd is the init system (what Ansible's service_mgr fact looks at)."""
    return os.path.isdir("/run/systemd/system")


def parse_show(text):
    """`systemctl show` output -> dict; a value starting with `{` may continue on later lines."""
    parsed = {}
    multi_key, multi_value = None, []
    for line in text.splitlines():
        if multi_key is not None:
            multi_value.append(line)
            if line.rstrip().endswith("}"):
                parsed[multi_key] = "\n".join(multi_value).strip()
                multi_key = None
            continue
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        if value.lstrip().startswith("{") and not value.rstrip().endswith("}"):
            multi_key, multi_value = key, [value]
        else:
            parsed[key] = value.strip()
    return parsed


class Systemctl(object):
    """systemctl with the scope/no_block/force flags of one task."""

    def __init__(self, module, scope="system", no_block=False, force=False):
        self.module = module
        self.base = ["systemctl"]
        if scope == "user":
            self.base.append("--user")
        elif scope == "global":
            self.base.append("--global")
        self.no_block = no_block
        self.force = force
        self.enabled_cache = {}

    def run(self, *args):
        return self.module.run_command(self.base + list(args))

    def act(self, action, unit):
        argv = [action, unit]
        if self.no_block and action not in ("enable", "disable", "mask", "unmask"):
            argv.insert(0, "--no-block")
        if self.force and action in ("enable", "disable", "mask", "unmask"):
            argv.insert(0, "--force")
        self.enabled_cache.pop(unit, None)
        rc, out, err = self.run(*argv)
        if rc != 0:
            self.module.fail(
                "Unable to %s service %s: %s" % (action, unit, (out + err).strip()),
                name=unit,
                changed=False,
            )

    def show(self, unit):
        rc, out, err = self.run("show", unit, "--no-pager")
        if rc != 0 or "ignoring request" in (out + err):
            return {}
        return parse_show(out)

    def is_enabled(self, unit):
        """(rc, word) of `systemctl is-enabled`, e.g. (0, 'enabled'), (1, 'disabled');
        asked once per unit (nothing changes it before this task's own actions)."""
        if unit not in self.enabled_cache:
            rc, out, _ = self.run("is-enabled", unit)
            words = out.split()
            self.enabled_cache[unit] = (rc, words[0] if words else "")
        return self.enabled_cache[unit]


def check_required_by(module, params):
    for key in ("state", "enabled", "masked"):
        if params.get(key) is not None and not params.get("name"):
            module.fail("missing parameter(s) required by '%s': name" % key)


def manage(module, params):
    """Run one systemd_service task; return Ansible's result fields (plus diff)."""
    check_required_by(module, params)
    ctl = Systemctl(
        module, params.get("scope") or "system", params.get("no_block"), params.get("force")
    )
    unit = params.get("name")
    result = {"changed": False, "status": {}}
    if unit:
        result["name"] = unit
    if params.get("daemon_reexec") and not module.check_mode:
        rc, out, err = ctl.run("daemon-reexec")
        if rc != 0:
            module.fail("failure %d during daemon-reexec: %s" % (rc, err))
    if params.get("daemon_reload") and not module.check_mode:
        rc, out, err = ctl.run("daemon-reload")
        if rc != 0:
            module.fail("failure %d during daemon-reload: %s" % (rc, err))
    if not unit:
        return result
    status = ctl.show(unit) if params.get("scope", "system") != "global" else {}
    result["status"] = status
    load = status.get("LoadState")
    found = bool(load) and load != "not-found"
    if found and load != "masked" and status.get("LoadError"):
        module.fail("Error loading unit file '%s': %s" % (unit, status["LoadError"]))
    before = _snapshot(ctl, unit, status)
    after = dict(before)
    if params.get("masked") is not None:
        _masked(module, ctl, unit, params["masked"], before, after, result)
    if params.get("enabled") is not None:
        _enabled(module, ctl, unit, params["enabled"], found, after, result)
    if params.get("state") is not None:
        _state(module, ctl, unit, params["state"], found, status, after, result)
    if module.diff_mode:
        result["diff"] = {
            "before": _render(before),
            "after": _render(after),
            "before_header": unit,
            "after_header": unit,
        }
    return result


def _snapshot(ctl, unit, status):
    rc, word = ctl.is_enabled(unit)
    return {
        "masked": word == "masked" or status.get("LoadState") == "masked",
        "enabled": word if word else "not-found",
        "active": status.get("ActiveState", "unknown"),
    }


def _render(state):
    return "".join("%s: %s\n" % (k, str(state[k]).lower()) for k in ("masked", "enabled", "active"))


def _masked(module, ctl, unit, want, before, after, result):
    if before["masked"] == want:
        return
    result["changed"] = True
    after["masked"] = want
    after["enabled"] = "masked" if want else "disabled"
    if not module.check_mode:
        ctl.act("mask" if want else "unmask", unit)


def _enabled(module, ctl, unit, want, found, after, result):
    if not found:
        module.fail("Could not find the requested service %s: host" % unit)
    rc, word = ctl.is_enabled(unit)
    enabled = rc == 0 and word not in ("enabled-runtime", "indirect", "alias")
    result["enabled"] = enabled
    if enabled == want:
        return
    result["changed"] = True
    result["enabled"] = want
    after["enabled"] = "enabled" if want else "disabled"
    if not module.check_mode:
        ctl.act("enable" if want else "disable", unit)


def _state(module, ctl, unit, want, found, status, after, result):
    if not found:
        module.fail("Could not find the requested service %s: host" % unit)
    result["state"] = want
    active = status.get("ActiveState")
    if active is None:
        module.fail("Service is in unknown state", status=status)
    running = active in ACTIVE
    action = None
    if want == "started":
        action = None if running else "start"
    elif want == "stopped":
        action = "stop" if running or active == "deactivating" else None
    else:
        action = want[:-2] if running else "start"
        result["state"] = "started"
    if not action:
        return
    result["changed"] = True
    after["active"] = "inactive" if action == "stop" else "active"
    if action in ("restart", "reload"):
        after["active"] = "active (%sed)" % action
    if not module.check_mode:
        ctl.act(action, unit)
