"""Manage packages with the host's package manager (Ansible's package): dnf or apt."""

import os
import shutil

from modules._utils import debpkg, rpmpkg

ARGUMENT_SPEC = {
    "name": {"type": "list", "elements": "str", "required": True},
    "state": {"type": "str", "required": True},
    "use": {"type": "str", "default": "auto"},
}
SUPPORTS_CHECK_MODE = True
PRELOAD = ["dnf"]  # on dnf hosts (modules/_utils/dnfapi.py); a failed import costs nothing
MANAGERS = ("dnf", "yum", "apt")


def pkg_mgr():
    """What Ansible's ansible_pkg_mgr fact would say, for the managers tk drives."""
    redhat = os.path.exists("/etc/redhat-release")
    if redhat and shutil.which("dnf"):
        return "dnf"
    if redhat and shutil.which("yum"):
        return "yum"
    if shutil.which("apt-get"):
        return "apt"
    if shutil.which("dnf"):
        return "dnf"
    return "unknown"


def main(module):
    params = module.params
    use = params["use"] if params["use"] != "auto" else pkg_mgr()
    if use not in MANAGERS:
        module.fail(
            "Could not find a module for %s." % use
            if params["use"] != "auto"
            else "Could not detect which package manager to use. Try gathering facts or "
            'setting the "use" option.'
        )
    args = {"name": params["name"], "state": params["state"]}
    if use == "apt":
        if args["state"] == "installed":
            args["state"] = "present"
        if args["state"] not in ("present", "latest", "absent"):
            module.fail(
                "value of state must be one of: absent, latest, present, got: %s" % args["state"]
            )
        return debpkg.manage(module, args)
    if args["state"] not in ("absent", "present", "installed", "removed", "latest"):
        module.fail(
            "value of state must be one of: absent, present, installed, removed, "
            "latest, got: %s" % args["state"]
        )
    return rpmpkg.manage(module, args)
