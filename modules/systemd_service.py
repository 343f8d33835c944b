"""Manage systemd units: start, stop, enable, mask, daemon-reload (Ansible's systemd_service)."""

from modules._utils import systemd

ARGUMENT_SPEC = {
    "name": {"type": "str", "aliases": ["service", "unit"]},
    "state": {"type": "str", "choices": ["reloaded", "restarted", "started", "stopped"]},
    "enabled": {"type": "bool"},
    "force": {"type": "bool"},
    "masked": {"type": "bool"},
    "daemon_reload": {"type": "bool", "aliases": ["daemon-reload"]},
    "daemon_reexec": {"type": "bool", "aliases": ["daemon-reexec"]},
    "scope": {"type": "str", "default": "system", "choices": ["system", "user", "global"]},
    "no_block": {"type": "bool", "default": False},
}
REQUIRED_ONE_OF = [["state", "enabled", "masked", "daemon_reload", "daemon_reexec"]]
SUPPORTS_CHECK_MODE = True


def main(module):
    if not systemd.systemd_running():
        module.fail("systemd is not the init system of this host (no /run/systemd/system)")
    return systemd.manage(module, module.params)
