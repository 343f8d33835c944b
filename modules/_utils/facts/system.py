"""System facts: platform, distribution, python, user, env, selinux, service and package manager."""

import os
import platform
import pwd
import socket
import sys
import threading
import time
from importlib.machinery import PathFinder

from modules._utils.command import which

DISTRIBUTIONS = {
    "centos": ("CentOS", "RedHat"),
    "rhel": ("RedHat", "RedHat"),
    "fedora": ("Fedora", "RedHat"),
    "rocky": ("Rocky", "RedHat"),
    "almalinux": ("AlmaLinux", "RedHat"),
    "ol": ("OracleLinux", "RedHat"),
    "amzn": ("Amazon", "RedHat"),
    "debian": ("Debian", "Debian"),
    "ubuntu": ("Ubuntu", "Debian"),
    "linuxmint": ("Linux Mint", "Debian"),
    "sles": ("SLES", "Suse"),
    "opensuse-leap": ("openSUSE Leap", "Suse"),
    "arch": ("Archlinux", "Archlinux"),
    "alpine": ("Alpine", "Alpine"),
}


def read(path, default=""):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return default


def os_release():
    values = {}
    for line in (read("/etc/os-release") or read("/usr/lib/os-release")).splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    return values


def distribution(facts):
    rel = os_release()
    ident = rel.get("ID", "").lower()
    name, family = DISTRIBUTIONS.get(ident, (rel.get("NAME", platform.system()), None))
    if family is None:
        like = rel.get("ID_LIKE", "").split()
        family = next((DISTRIBUTIONS[i][1] for i in like if i in DISTRIBUTIONS), name)
    version = rel.get("VERSION_ID", "")
    if family == "Debian" and ident == "debian":
        version = read("/etc/debian_version").strip() or version
    release = rel.get("VERSION_CODENAME", "")
    if not release and ident == "centos" and "Stream" in rel.get("NAME", ""):
        release = "Stream"
    return {
        "ansible_distribution": name,
        "ansible_os_family": family,
        "ansible_distribution_version": version,
        "ansible_distribution_major_version": version.split(".")[0] if version else "",
        "ansible_distribution_release": release,
        "ansible_distribution_file_variety": family,
    }


def _fqdn(hostname):
    for line in read("/etc/hosts").splitlines():
        names = line.split("#")[0].split()[1:]
        if hostname in names or any(n.split(".")[0] == hostname for n in names):
            dotted = [n for n in names if "." in n and n.split(".")[0] == hostname]
            return dotted[0] if dotted else names[0]
    box = [hostname]
    worker = threading.Thread(target=lambda: box.append(socket.getfqdn(hostname)))
    worker.daemon = True
    worker.start()
    worker.join(2.0)  # a host without working DNS must not stall fact gathering
    return box[-1]


def platform_facts(facts):
    uname = os.uname()
    nodename = uname.nodename
    fqdn = _fqdn(nodename)
    machine_id = (read("/etc/machine-id") or read("/var/lib/dbus/machine-id")).strip()
    bits = "64" if sys.maxsize > 2**32 else "32"
    return {
        "ansible_system": uname.sysname,
        "ansible_kernel": uname.release,
        "ansible_kernel_version": uname.version,
        "ansible_machine": uname.machine,
        "ansible_architecture": uname.machine,
        "ansible_nodename": nodename,
        "ansible_hostname": nodename.split(".")[0],
        "ansible_fqdn": fqdn,
        "ansible_domain": fqdn.partition(".")[2],
        "ansible_machine_id": machine_id,
        "ansible_userspace_bits": bits,
        "ansible_userspace_architecture": uname.machine,
    }


def python_facts(facts):
    info = sys.version_info
    return {
        "ansible_python_version": "%d.%d.%d" % tuple(info[:3]),
        "ansible_python": {
            "version": {
                "major": info[0],
                "minor": info[1],
                "micro": info[2],
                "releaselevel": info[3],
                "serial": info[4],
            },
            "version_info": list(info),
            "executable": sys.executable,
            "has_sslcontext": True,
            "type": platform.python_implementation(),
        },
    }


def user_facts(facts):
    uid = os.geteuid()
    try:
        entry = pwd.getpwuid(uid)
        name, gid, home, shell, gecos = (
            entry.pw_name,
            entry.pw_gid,
            entry.pw_dir,
            entry.pw_shell,
            entry.pw_gecos,
        )
    except KeyError:
        name, gid, home, shell, gecos = str(uid), os.getegid(), "/", "", ""
    return {
        "ansible_user_id": name,
        "ansible_user_uid": uid,
        "ansible_user_gid": gid,
        "ansible_user_dir": home,
        "ansible_user_shell": shell,
        "ansible_user_gecos": gecos,
        "ansible_real_user_id": os.getuid(),
        "ansible_effective_user_id": uid,
        "ansible_env": dict(os.environ),
    }


def selinux_facts(facts):
    # importable, without loading libselinux's bindings on every gathering
    present = PathFinder.find_spec("selinux") is not None
    enforce = read("/sys/fs/selinux/enforce").strip()
    if not enforce:
        return {
            "ansible_selinux": {"status": "disabled"},
            "ansible_selinux_python_present": present,
        }
    config = {}
    for line in read("/etc/selinux/config").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            config[key.strip()] = value.strip()
    return {
        "ansible_selinux_python_present": present,
        "ansible_selinux": {
            "status": "enabled",
            "mode": "enforcing" if enforce == "1" else "permissive",
            "config_mode": config.get("SELINUX", "unknown"),
            "type": config.get("SELINUXTYPE", "unknown"),
            "policyvers": int(read("/sys/fs/selinux/policyvers").strip() or 0) or None,
        },
    }


def service_mgr(facts):
    comm = read("/proc/1/comm").strip()
    if comm == "systemd" or os.path.isdir("/run/systemd/system"):
        name = "systemd"
    elif comm in ("runit", "runit-init"):
        name = "runit"
    elif comm == "openrc-init" or os.path.exists("/sbin/openrc"):
        name = "openrc"
    elif os.path.isdir("/etc/init.d"):
        name = "sysvinit"
    else:
        name = "service"
    return {"ansible_service_mgr": name}


PKG_MGRS = {
    "RedHat": ["dnf5", "dnf", "yum"],
    "Debian": ["apt-get"],
    "Suse": ["zypper"],
    "Archlinux": ["pacman"],
    "Alpine": ["apk"],
}
PKG_NAMES = {"apt-get": "apt"}


def pkg_mgr(facts):
    family = facts.get("ansible_os_family") or distribution(facts)["ansible_os_family"]
    order = PKG_MGRS.get(family, []) + ["dnf", "yum", "apt-get", "zypper", "pacman", "apk"]
    for tool in order:
        if which(tool):
            return {"ansible_pkg_mgr": PKG_NAMES.get(tool, tool)}
    return {"ansible_pkg_mgr": "unknown"}


def date_time(facts):
    now = time.time()
    local, utc = time.localtime(now), time.gmtime(now)
    return {
        "ansible_date_time": {
            "year": time.strftime("%Y", local),
            "month": time.strftime("%m", local),
            "weekday": time.strftime("%A", local),
            "weekday_number": time.strftime("%w", local),
            "weeknumber": time.strftime("%W", local),
            "day": time.strftime("%d", local),
            "hour": time.strftime("%H", local),
            "minute": time.strftime("%M", local),
            "second": time.strftime("%S", local),
            "epoch": str(int(now)),
            "epoch_int": str(int(now)),
            "date": time.strftime("%Y-%m-%d", local),
            "time": time.strftime("%H:%M:%S", local),
            "iso8601": time.strftime("%Y-%m-%dT%H:%M:%SZ", utc),
            "iso8601_micro": time.strftime("%Y-%m-%dT%H:%M:%S", utc) + ".%06dZ" % ((now % 1) * 1e6),
            "tz": time.strftime("%Z", local),
            "tz_offset": time.strftime("%z", local),
        }
    }


def dns_and_cmdline(facts):
    dns = {}
    for line in read("/etc/resolv.conf").splitlines():
        fields = line.split("#")[0].split()
        if len(fields) < 2:
            continue
        if fields[0] == "nameserver":
            dns.setdefault("nameservers", []).append(fields[1])
        elif fields[0] in ("search", "domain"):
            dns[fields[0]] = fields[1:] if fields[0] == "search" else fields[1]
    cmdline = {}
    for item in read("/proc/cmdline").split():
        key, _, value = item.partition("=")
        cmdline[key] = value or True
    return {"ansible_dns": dns, "ansible_cmdline": cmdline}


def virtual(facts):
    environ = read("/proc/1/environ").split("\0")
    container = [e.partition("=")[2] for e in environ if e.startswith("container=")]
    if container:
        kind = container[0]
    elif os.path.exists("/.dockerenv"):
        kind = "docker"
    elif os.path.exists("/run/.containerenv"):
        kind = "podman"
    else:
        kind = ""
    return {
        "ansible_virtualization_type": kind or "NA",
        "ansible_virtualization_role": "guest" if kind else "NA",
    }


def local_facts(fact_path):
    """ansible_local from fact_path/*.fact (JSON or INI, or executables printing JSON)."""
    import configparser
    import glob
    import json
    import subprocess

    if not fact_path or not os.path.isdir(fact_path):
        return {}
    local = {}
    for path in sorted(glob.glob(os.path.join(fact_path, "*.fact"))):
        name = os.path.basename(path)[:-5]
        if os.access(path, os.X_OK):
            text = subprocess.run(
                [path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
            ).stdout.decode("utf-8", "replace")
        else:
            text = read(path)
        try:
            local[name] = json.loads(text)
        except ValueError:
            parser = configparser.ConfigParser()
            try:
                parser.read_string(text)
                local[name] = dict((s, dict(parser.items(s))) for s in parser.sections())
            except configparser.Error:
                local[name] = "error loading fact - please check content"
    return {"ansible_local": local}


MIN = [
    platform_facts,
    distribution,
    python_facts,
    user_facts,
    selinux_facts,
    service_mgr,
    pkg_mgr,
    date_time,
    dns_and_cmdline,
]
VIRTUAL = [virtual]
