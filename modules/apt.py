"""Manage packages with apt (Ansible's apt): present, latest, absent, update_cache."""

from modules._utils import debpkg

ARGUMENT_SPEC = {
    "name": {"type": "list", "elements": "str", "aliases": ["package", "pkg"], "default": []},
    "state": {
        "type": "str",
        "default": "present",
        "choices": ["absent", "build-dep", "latest", "present", "fixed"],
    },
    "update_cache": {"type": "bool", "default": False, "aliases": ["update-cache"]},
    "update_cache_retries": {"type": "int", "default": 5},
    "update_cache_retry_max_delay": {"type": "int", "default": 12},
    "cache_valid_time": {"type": "int", "default": 0},
    "purge": {"type": "bool", "default": False},
    "default_release": {"type": "str", "aliases": ["default-release"]},
    "install_recommends": {"type": "bool", "aliases": ["install-recommends"]},
    "force": {"type": "bool", "default": False},
    "upgrade": {"type": "str", "choices": ["dist", "full", "no", "safe", "yes"], "default": "no"},
    "dpkg_options": {"type": "str", "default": "force-confdef,force-confold"},
    "autoremove": {"type": "bool", "default": False},
    "autoclean": {"type": "bool", "default": False},
    "fail_on_autoremove": {"type": "bool", "default": False},
    "only_upgrade": {"type": "bool", "default": False},
    "policy_rc_d": {"type": "int"},
    "allow_unauthenticated": {
        "type": "bool",
        "default": False,
        "aliases": ["allow-unauthenticated"],
    },
    "allow_downgrade": {
        "type": "bool",
        "default": False,
        "aliases": ["allow-downgrade", "allow_downgrades", "allow-downgrades"],
    },
    "allow_change_held_packages": {"type": "bool", "default": False},
    "lock_timeout": {"type": "int", "default": 60},
    "deb": {"type": "path"},
    "clean": {"type": "bool", "default": False},
    "force_apt_get": {"type": "bool", "default": False},
}
SUPPORTS_CHECK_MODE = True
UNSUPPORTED = {"deb": None, "policy_rc_d": None, "autoclean": False, "clean": False}


def main(module):
    params = module.params
    for key, unset in sorted(UNSUPPORTED.items()):
        if params[key] != unset:
            module.fail("tk's apt module does not support '%s'" % key)
    if params["upgrade"] not in ("no", None):
        module.fail("tk's apt module does not support 'upgrade' (whole-system upgrades)")
    if params["state"] in ("build-dep", "fixed"):
        module.fail("tk's apt module does not support state=%s" % params["state"])
    return debpkg.manage(module, params)
