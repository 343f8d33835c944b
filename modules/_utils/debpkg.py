"""apt package management with Ansible's apt semantics (stdlib, Python 3.6+; no python3-apt).

Installed versions come from `dpkg-query -W -f` (a query format), candidates from
`apt-cache show --no-all-versions` (deb822 records); changes go through `apt-get -y`.
"""

import os
import time

DPKG_QF = "${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n"
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "DEBCONF_NONINTERACTIVE_SEEN": "true"}
STAMP = "/var/lib/apt/periodic/update-success-stamp"
LISTS = "/var/lib/apt/lists"
DEFAULTS = {
    "name": [],
    "state": "present",
    "update_cache": False,
    "cache_valid_time": 0,
    "purge": False,
    "autoremove": False,
    "install_recommends": None,
    "force": False,
    "default_release": None,
    "dpkg_options": "force-confdef,force-confold",
    "only_upgrade": False,
    "allow_downgrade": False,
    "allow_unauthenticated": False,
}


def split_spec(spec):
    """'name=1.0*' -> ('name', '1.0*'); 'name:amd64' -> ('name:amd64', None)."""
    name, _, version = spec.partition("=")
    return name.strip(), (version.strip() or None)


def installed(module, names=None):
    """{package or package:arch: version} of installed packages."""
    argv = ["dpkg-query", "-W", "-f", DPKG_QF] + list(names or [])
    rc, out, err = module.run_command(argv)
    found = {}
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[3].startswith("ii"):
            found[fields[0]] = fields[1]
            found["%s:%s" % (fields[0], fields[2])] = fields[1]
    return found


def candidate(module, name):
    """The version apt would install for `name`, or None if no package has that name."""
    rc, out, err = module.run_command(["apt-cache", "show", "--no-all-versions", name])
    if rc != 0:
        return None
    for line in out.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def cache_time():
    for path in (STAMP, LISTS):
        if os.path.exists(path):
            return int(os.stat(path).st_mtime)
    return 0


def apt_get(module, params, *args):
    argv = ["apt-get", "-y", "-q"]
    for opt in (params["dpkg_options"] or "").split(","):
        if opt.strip():
            argv += ["-o", "Dpkg::Options::=--%s" % opt.strip()]
    if params["install_recommends"] is True:
        argv.append("--install-recommends")
    elif params["install_recommends"] is False:
        argv.append("--no-install-recommends")
    if params["default_release"]:
        argv += ["-t", params["default_release"]]
    if params["force"] or params["allow_unauthenticated"]:
        argv.append("--allow-unauthenticated")
    if params["allow_downgrade"]:
        argv.append("--allow-downgrades")
    return module.run_command(argv + list(args), env=APT_ENV)


def update_cache(module, params):
    """(updated, cache_update_time) as Ansible's apt reports them."""
    before = cache_time()
    valid = params["cache_valid_time"] or 0
    if not (params["update_cache"] or valid) or (valid and before + valid >= time.time()):
        return False, before
    if module.check_mode:
        return True, before
    rc, out, err = apt_get(module, params, "update")
    if rc != 0:
        module.fail("Failed to update apt cache: %s" % err.strip(), rc=rc)
    return True, cache_time()


def manage(module, params):
    """Run one apt task; return Ansible's apt result fields (plus diff)."""
    params = dict(DEFAULTS, **dict((k, v) for k, v in params.items() if v is not None))
    names = [n.strip() for n in params["name"] if n and n.strip()]
    updated, stamp = update_cache(module, params)
    base = {"cache_updated": updated, "cache_update_time": stamp}
    if not names:
        if params["update_cache"] or params["cache_valid_time"]:
            return dict(base, changed=updated)
        module.fail("one of the following is required: name, package, update_cache")
    have = installed(module)
    state = params["state"]
    todo, lines_before, lines_after = [], [], []
    for spec in names:
        name, version = split_spec(spec)
        current = have.get(name)
        if state == "absent":
            if current is not None:
                todo.append(name)
                lines_before.append("%s: %s\n" % (name, current))
                lines_after.append("%s: absent\n" % name)
            continue
        want = candidate(module, name) if (state == "latest" or current is None) else None
        if current is None and want is None:
            module.fail("No package matching '%s' is available" % name)
        if version and current and _version_ok(current, version):
            continue
        if current is None or version or (state == "latest" and want != current):
            if current is None and params["only_upgrade"]:
                continue
            todo.append(spec)
            lines_before.append("%s: %s\n" % (name, current or "absent"))
            lines_after.append("%s: %s\n" % (name, version or want))
    result = dict(base, changed=bool(todo) or updated, stdout="", stderr="")
    if todo:
        result["diff"] = {"before": "".join(lines_before), "after": "".join(lines_after)}
    if not todo or module.check_mode:
        return result
    if state == "absent":
        args = ["remove"] + (["--purge"] if params["purge"] else []) + todo
    else:
        args = ["install"] + todo
    if params["autoremove"]:
        args.insert(1, "--auto-remove")
    rc, out, err = apt_get(module, params, *args)
    if rc != 0:
        cmd = "apt-get %s" % " ".join(args)
        module.fail("'%s' failed: %s" % (cmd, err.strip()), stdout=out, stderr=err, rc=rc)
    result.update(stdout=out, stderr=err)
    return result


def _version_ok(current, wanted):
    import fnmatch

    return fnmatch.fnmatchcase(current, wanted)
