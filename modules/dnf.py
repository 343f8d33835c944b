"""Manage packages with dnf (Ansible's dnf; `yum` resolves here too): present, latest, absent."""

from modules._utils import rpmpkg

ARGUMENT_SPEC = {
    "name": {"type": "list", "elements": "str", "aliases": ["pkg"], "default": []},
    "list": {"type": "str"},
    "state": {"type": "str", "choices": ["absent", "present", "installed", "removed", "latest"]},
    "enablerepo": {"type": "list", "elements": "str", "default": []},
    "disablerepo": {"type": "list", "elements": "str", "default": []},
    "conf_file": {"type": "str"},
    "disable_gpg_check": {"type": "bool", "default": False},
    "installroot": {"type": "str", "default": "/"},
    "releasever": {"type": "str"},
    "autoremove": {"type": "bool", "default": False},
    "exclude": {"type": "list", "elements": "str", "default": []},
    "skip_broken": {"type": "bool", "default": False},
    "update_cache": {"type": "bool", "default": False, "aliases": ["expire-cache"]},
    "update_only": {"type": "bool", "default": False},
    "security": {"type": "bool", "default": False},
    "bugfix": {"type": "bool", "default": False},
    "enable_plugin": {"type": "list", "elements": "str", "default": []},
    "disable_plugin": {"type": "list", "elements": "str", "default": []},
    "disable_excludes": {"type": "str"},
    "validate_certs": {"type": "bool", "default": True},
    "sslverify": {"type": "bool", "default": True},
    "allow_downgrade": {"type": "bool", "default": False},
    "install_repoquery": {"type": "bool", "default": True},
    "download_only": {"type": "bool", "default": False},
    "download_dir": {"type": "str"},
    "lock_timeout": {"type": "int", "default": 30},
    "install_weak_deps": {"type": "bool", "default": True},
    "allowerasing": {"type": "bool", "default": False},
    "nobest": {"type": "bool"},
    "best": {"type": "bool"},
    "cacheonly": {"type": "bool", "default": False},
    "use_backend": {
        "type": "str",
        "default": "auto",
        "choices": ["auto", "yum", "yum4", "dnf", "dnf4", "dnf5"],
    },
}
SUPPORTS_CHECK_MODE = True
PRELOAD = ["dnf"]  # dnf's Python API (modules/_utils/dnfapi.py): imported by a warm spare


def main(module):
    return rpmpkg.manage(module, module.params)
