"""Manage services (Ansible's service); on systemd hosts it does what systemd_service does."""

from modules._utils import systemd

ARGUMENT_SPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": ["reloaded", "restarted", "started", "stopped"]},
    "enabled": {"type": "bool"},
    "sleep": {"type": "int"},
    "pattern": {"type": "str"},
    "arguments": {"type": "str", "default": "", "aliases": ["args"]},
    "runlevel": {"type": "str", "default": "default"},
    "use": {"type": "str", "default": "auto"},
}
REQUIRED_ONE_OF = [["state", "enabled"]]
SUPPORTS_CHECK_MODE = True
UNUSED_ON_SYSTEMD = ("pattern", "runlevel", "sleep", "arguments")


def main(module):
    params = module.params
    use = params["use"]
    if use not in ("auto", "systemd"):
        module.fail("service manager %r is not supported by tk (only systemd)" % use)
    if not systemd.systemd_running():
        module.fail("systemd is not the init system of this host; tk's service module needs it")
    for key in UNUSED_ON_SYSTEMD:
        if params.get(key) not in (None, "", "default"):
            module.warn('Ignoring "%s" as it is not used in "systemd"' % key)
    return systemd.manage(
        module,
        {
            "name": params["name"],
            "state": params["state"],
            "enabled": params["enabled"],
            "scope": "system",
        },
    )
