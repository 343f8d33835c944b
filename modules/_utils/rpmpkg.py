"""dnf/yum package management with Ansible's dnf semantics (stdlib, Python 3.6+).

What is installed comes from `rpm -qa --qf` (a query format, never human output), what is
available and upgradable from `dnf repoquery --qf`. Changes go through dnf's Python API where
this interpreter has it (modules/_utils/dnfapi.py: the same transaction without the CLI's
start-up), else `dnf -y install/upgrade/remove`; the result's `results` list ("Installed:
NEVRA", "Removed: NEVRA") is the difference of two rpm snapshots (or, in check mode, the
predicted one).
"""

import fnmatch

from modules._utils import dnfapi

RPM_QF = "%{NAME}\\t%|EPOCH?{%{EPOCH}}:{0}|\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\n"
REPO_QF = "%{name}\\t%{epoch}\\t%{version}\\t%{release}\\t%{arch}"
UNSUPPORTED = (
    "list",
    "security",
    "bugfix",
    "download_only",
    "download_dir",
    "enable_plugin",
    "disable_plugin",
    "disable_excludes",
)

DEFAULTS = {
    "name": [],
    "state": None,
    "enablerepo": [],
    "disablerepo": [],
    "conf_file": None,
    "disable_gpg_check": False,
    "installroot": "/",
    "releasever": None,
    "autoremove": False,
    "exclude": [],
    "skip_broken": False,
    "update_cache": False,
    "update_only": False,
    "install_weak_deps": True,
    "allowerasing": False,
    "nobest": None,
    "best": None,
    "cacheonly": False,
}


class Pkg(object):
    def __init__(self, name, epoch, version, release, arch):
        self.name, self.epoch, self.version = name, epoch or "0", version
        self.release, self.arch = release, arch

    def nevra(self):
        epoch = "" if self.epoch in ("0", "", "(none)") else self.epoch + ":"
        return "%s-%s%s-%s.%s" % (self.name, epoch, self.version, self.release, self.arch)

    def forms(self):
        """The strings dnf matches a spec against (its "nevra forms")."""
        n, v, r, a, e = self.name, self.version, self.release, self.arch, self.epoch
        return (
            n,
            "%s.%s" % (n, a),
            "%s-%s" % (n, v),
            "%s-%s-%s" % (n, v, r),
            "%s-%s-%s.%s" % (n, v, r, a),
            "%s-%s:%s-%s" % (n, e, v, r),
            "%s-%s:%s-%s.%s" % (n, e, v, r, a),
        )

    def matches(self, spec):
        return any(fnmatch.fnmatchcase(form, spec) for form in self.forms())


def parse_rows(text):
    pkgs = []
    for line in text.splitlines():
        fields = line.strip().split("\t")
        if len(fields) == 5:
            pkgs.append(Pkg(*fields))
    return pkgs


class Dnf(object):
    def __init__(self, module, params):
        params = dict(DEFAULTS, **dict((k, v) for k, v in params.items() if v is not None))
        self.module = module
        self.params = params
        for key in UNSUPPORTED:
            if params.get(key) not in (None, False, [], ""):
                module.fail("tk's dnf module does not support '%s'" % key)
        argv = ["dnf", "-y", "-q"]
        argv += ["--disablerepo=%s" % r for r in params["disablerepo"]]
        argv += ["--enablerepo=%s" % r for r in params["enablerepo"]]
        argv += ["--exclude=%s" % x for x in params["exclude"]]
        if params["conf_file"]:
            argv += ["-c", params["conf_file"]]
        if params["installroot"] not in (None, "/"):
            argv.append("--installroot=%s" % params["installroot"])
        if params["releasever"]:
            argv.append("--releasever=%s" % params["releasever"])
        if params["disable_gpg_check"]:
            argv.append("--nogpgcheck")
        if not params["install_weak_deps"]:
            argv.append("--setopt=install_weak_deps=False")
        if params["allowerasing"]:
            argv.append("--allowerasing")
        if params["nobest"] or params["best"] is False:
            argv.append("--nobest")
        elif params["best"]:
            argv.append("--best")
        if params["cacheonly"]:
            argv.append("--cacheonly")
        if params["skip_broken"]:
            argv.append("--skip-broken")
        argv.append("--setopt=clean_requirements_on_remove=%s" % bool(params["autoremove"]))
        if not (params.get("sslverify", True) and params.get("validate_certs", True)):
            argv.append("--setopt=sslverify=False")
        self.base = argv
        self.api = False  # dnf's Python API: looked up on the first change (None: the CLI)

    def rpm_installed(self):
        argv = ["rpm", "-qa", "--qf", RPM_QF.replace("\\t", "\t").replace("\\n", "\n")]
        if self.params["installroot"] not in (None, "/"):
            argv[1:1] = ["--root", self.params["installroot"]]
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            self.module.fail("rpm -qa failed: %s" % err.strip(), rc=rc)
        return parse_rows(out)

    def has_api(self):
        """Whether dnf's Python API is there (imported on the first ask)."""
        if self.api is False:
            self.api = dnfapi.load()
        return self.api is not None

    def dnf(self, *args, **kw):
        if self.has_api() and args[0] in dnfapi.VERBS:
            rc, out, err = dnfapi.run(self.api, self.params, args[0], list(args[1:]))
        else:
            rc, out, err = self.module.run_command(self.base + list(args))
        if rc != 0 and kw.get("check", True):
            self.module.fail(
                kw.get("msg") or (err.strip() or out.strip() or "dnf %s failed" % args[0]),
                rc=rc,
                results=[],
                failures=[(err or out).strip()],
            )
        return rc, out, err

    def repoquery(self, specs, *extra):
        qf = REPO_QF.replace("\\t", "\t")
        rc, out, err = self.dnf("repoquery", "--qf", qf, *(list(extra) + ["--"] + list(specs)))
        return parse_rows(out)

    def provided(self, spec, installed=True):
        """Does an installed (or available) package provide `spec` (a file or capability)?"""
        if installed:
            rc, _, _ = self.module.run_command(["rpm", "-q", "--whatprovides", spec])
            return rc == 0
        return bool(self.repoquery([spec], "--whatprovides"))


def find(pkgs, spec):
    return [p for p in pkgs if p.matches(spec)]


def latest_per_name(pkgs):
    best = {}
    for pkg in pkgs:
        best[(pkg.name, pkg.arch)] = pkg  # repoquery lists oldest first
    return list(best.values())


def _is_file(spec):
    return spec.endswith(".rpm") and ("/" in spec or "://" in spec)


def _file_pkg(module, spec):
    qf = RPM_QF.replace("\\t", "\t").replace("\\n", "\n")
    rc, out, err = module.run_command(["rpm", "-qp", "--nosignature", "--qf", qf, spec])
    pkgs = parse_rows(out) if rc == 0 else []
    if not pkgs:
        module.fail(
            "Error occurred attempting remote rpm operation: %s" % err.strip(),
            rc=1,
            results=[],
            failures=[spec],
        )
    return pkgs[0]


def snapshot_changes(before, after):
    """Installed:/Removed: lines from two rpm snapshots."""
    old = dict(((p.name, p.arch), p) for p in before)
    new = dict(((p.name, p.arch), p) for p in after)
    lines = []
    for key in sorted(new):
        if key not in old or old[key].nevra() != new[key].nevra():
            lines.append("Installed: %s" % new[key].nevra())
    for key in sorted(old):
        if key not in new:
            lines.append("Removed: %s" % old[key].nevra())
    return lines


class Plan(object):
    def __init__(self):
        self.install, self.upgrade, self.remove, self.failures = [], [], [], []
        self.adds, self.drops = [], []  # predicted Pkg objects, for check mode and diff
        self.unverified = []  # specs to install that were not looked up in the repositories

    def empty(self):
        return not (self.install or self.upgrade or self.remove)

    def results(self):
        return ["Installed: %s" % p.nevra() for p in self.adds] + [
            "Removed: %s" % p.nevra() for p in self.drops
        ]


def plan_install(d, plan, names, before, latest, update_only, predict):
    """Fill `plan`; missing packages are looked up in the repositories only to predict (check
    mode: the transaction resolved through dnf's API where there is one, else `repoquery`):
    otherwise `dnf install` is tried at once and a failure explains itself afterwards."""
    missing, present = [], []
    for spec in names:
        if spec == "*" and latest:
            present.append(spec)
        elif _is_file(spec):
            pkg = _file_pkg(d.module, spec)
            if not any(p.nevra() == pkg.nevra() for p in before):
                plan.install.append(spec)
                plan.adds.append(pkg)
        elif find(before, spec) or (("/" in spec or "(" in spec) and d.provided(spec)):
            present.append(spec)
        elif not update_only:
            missing.append(spec)
    upgrades = present if latest else []
    if predict and (missing or upgrades) and d.has_api():
        marks = [m for m in (("install", missing), ("upgrade", upgrades)) if m[1]]
        predict_by_api(d, plan, marks, before)
        return
    if missing and not predict:
        plan.install += missing
        plan.unverified = missing
    elif missing:
        available = latest_per_name(d.repoquery(missing, "--latest-limit=1"))
        for spec in missing:
            found = find(available, spec)
            if not found and ("/" in spec or "(" in spec) and d.provided(spec, installed=False):
                found = [Pkg(spec, "0", "?", "?", "?")]
            if not found:
                plan.failures.append("No package %s available." % spec)
                continue
            plan.install.append(spec)
            plan.adds += found[:1]
    if latest and present:
        upgrades = latest_per_name(d.repoquery(present, "--upgrades", "--latest-limit=1"))
        if upgrades:
            plan.upgrade += present
            plan.adds += upgrades


def plan_remove(d, plan, names, before):
    found = []
    for spec in names:
        if spec.startswith("/"):
            d.module.fail("Cannot remove paths -- please specify package name.", results=[])
        found += find(before, spec)
    removes = [p.nevra() for p in found]
    if removes and d.module.check_mode and d.has_api():  # what requires them goes too
        predict_by_api(d, plan, [("remove", removes)], before)
        return
    plan.remove += removes
    plan.drops += found


def predict_by_api(d, plan, marks, before):
    """Check mode through dnf's API: the transaction resolved as the real run would resolve
    it (dependencies, and what requires a removed package), its effect on `before` put in
    `plan` as the rpm snapshots of a real run would show it."""
    try:
        installs, removes, unknown = dnfapi.predict(d.api, d.params, marks)
    except d.api.exceptions.Error as exc:
        d.module.fail("Depsolve Error occurred: %s" % exc, rc=1, results=[], failures=[str(exc)])
    if unknown:
        plan.failures += ["No package %s available." % s for s in unknown]
        return
    old = dict(((p.name, p.arch), p) for p in before)
    new = dict(old)
    for row in removes:
        new.pop((row[0], row[4]), None)
    for row in installs:
        new[(row[0], row[4])] = Pkg(*row)
    plan.adds += [p for k, p in sorted(new.items()) if k not in old or old[k].nevra() != p.nevra()]
    plan.drops += [p for k, p in sorted(old.items()) if k not in new]
    if plan.adds or plan.drops:
        for verb, specs in marks:
            getattr(plan, verb).extend(specs)


def manage(module, params):
    """Run one dnf task; return Ansible's dnf result fields (plus diff)."""
    d = Dnf(module, params)
    params = d.params
    names = [n.strip() for n in params["name"] if n and n.strip()]
    state = params["state"] or ("removed" if params["autoremove"] else "installed")
    state = {"present": "installed", "absent": "removed"}.get(state, state)
    if params["update_cache"]:
        if not module.check_mode:
            d.dnf("makecache", msg="Failed to synchronize repodata")
        if not names:
            return {"changed": False, "msg": "Cache updated", "results": [], "rc": 0}
    for spec in names:
        if spec.startswith("@"):
            module.fail("tk's dnf module does not manage groups or modules (%s)" % spec)
    if not names and not params["autoremove"]:
        module.fail("name is required (a list of packages) unless update_cache or autoremove")
    before = d.rpm_installed()
    plan = Plan()
    if state in ("installed", "latest"):
        latest, only = state == "latest", params["update_only"]
        plan_install(d, plan, names, before, latest, only, module.check_mode)
    else:
        plan_remove(d, plan, names, before)
    if plan.failures:
        module.fail(
            "Failed to install some of the specified packages",
            failures=plan.failures,
            rc=1,
            results=[],
        )
    if plan.empty() and not (params["autoremove"] and state == "removed"):
        return {"changed": False, "msg": "Nothing to do", "rc": 0, "results": []}
    result = {"changed": not plan.empty(), "msg": "", "rc": 0, "results": plan.results()}
    if module.check_mode:
        result["diff"] = _diff(before, plan.adds, plan.drops)
        if result["changed"]:
            result["msg"] = "Check mode: No changes made, but would have if not in check mode"
        return result
    if plan.install:
        rc, out, err = d.dnf("install", *plan.install, check=False)
        if rc != 0:
            explain_failure(d, plan, rc, out, err)
    if plan.upgrade:
        d.dnf("upgrade", *[s for s in plan.upgrade if s != "*"])
    if plan.remove:
        d.dnf("remove", *plan.remove)
    if params["autoremove"] and state == "removed":
        d.dnf("autoremove")
    after = d.rpm_installed()
    result["results"] = snapshot_changes(before, after)
    result["changed"] = bool(result["results"])
    result["diff"] = _snapshot_diff(before, after)
    return result


def explain_failure(d, plan, rc, out, err):
    """After a failed install: Ansible's message for packages no repository has, else dnf's."""
    available = d.repoquery(plan.unverified) if plan.unverified else []
    failures = ["No package %s available." % s for s in plan.unverified if not find(available, s)]
    if failures:
        d.module.fail(
            "Failed to install some of the specified packages", failures=failures, rc=1, results=[]
        )
    text = (err or out).strip()
    what = "Depsolve Error occurred"
    if "GPG check FAILED" in text:
        what = "Failed to validate GPG signature"
    d.module.fail("%s: %s" % (what, text), rc=rc, results=[], failures=[text])


def _snapshot_diff(before, after):
    old = dict((p.name, p.nevra()) for p in before)
    new = dict((p.name, p.nevra()) for p in after)
    names = sorted(n for n in set(old) | set(new) if old.get(n) != new.get(n))
    return {
        "before": "".join("%s: %s\n" % (n, old.get(n, "absent")) for n in names),
        "after": "".join("%s: %s\n" % (n, new.get(n, "absent")) for n in names),
    }


def _diff(before, adds, drops):
    now = dict((p.name, p.nevra()) for p in before)
    names = sorted(set(p.name for p in adds + drops))
    after = dict(now)
    for p in drops:
        after.pop(p.name, None)
    for p in adds:
        after[p.name] = p.nevra()
    return {
        "before": "".join("%s: %s\n" % (n, now.get(n, "absent")) for n in names),
        "after": "".join("%s: %s\n" % (n, after.get(n, "absent")) for n in names),
    }
