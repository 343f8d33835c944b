"""Facts about host services that host preparation checks: firewalld (stdlib, 3.6+).

`ansible_firewalld`: installed, running (a live firewalld process), enabled (a
systemd wants-link), default_zone (from firewalld.conf). Read from files only: no D-Bus call.
"""

import glob
import os

CONF = "/etc/firewalld/firewalld.conf"


def _read(path):
    try:
        with open(path) as fh:
            return fh.read()
    except (IOError, OSError):
        return ""


def _running():
    """A process whose program is firewalld (Debian's unit runs it with --nopid)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = _read("/proc/%s/cmdline" % entry).split("\0")
            if any(arg.endswith("/firewalld") for arg in argv[:2]):
                return True
    return False


def _default_zone():
    for line in _read(CONF).splitlines():
        if line.strip().startswith("DefaultZone="):
            return line.split("=", 1)[1].strip()
    return "public" if os.path.exists(CONF) else None


def firewalld_facts(facts):
    installed = any(os.path.exists(p) for p in ("/usr/sbin/firewalld", "/usr/bin/firewall-cmd"))
    enabled = bool(glob.glob("/etc/systemd/system/*.wants/firewalld.service"))
    return {
        "ansible_firewalld": {
            "installed": installed,
            "running": installed and _running(),
            "enabled": enabled,
            "default_zone": _default_zone() if installed else None,
        }
    }


COLLECTORS = [firewalld_facts]
