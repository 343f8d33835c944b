"""dnf's Python API for rpmpkg's changes (stdlib + dnf, Python 3.6+).

`run(dnf, params, verb, specs)` makes the transaction `dnf -y VERB SPECS...` would make, with
the module's options applied as Ansible's dnf module applies them (dnf.conf read, plugins,
repositories enabled/disabled, excludes, releasever, best/nobest, skip_broken, weak deps,
signature checks with the repository's key imported as `-y` would), and answers with the
CLI's (rc, out, err); `predict` resolves the same transaction for check mode. It exists for
speed: dnf's CLI spends ~100 ms importing dnf on every run, and the agent's zygote (PRELOAD in
modules/dnf.py) has imported it before the task arrives. Where the interpreter has no dnf (or
TK_DNF_CLI is set), `load()` says None and rpmpkg runs the CLI.
"""

import os

VERBS = ("install", "upgrade", "remove", "autoremove", "makecache")


def load():
    """The dnf package when this interpreter can import it (and TK_DNF_CLI is not set)."""
    if os.environ.get("TK_DNF_CLI"):
        return None
    try:
        import dnf
        import dnf.exceptions  # noqa: F401
    except Exception:  # ImportError, or a broken libdnf binding: the CLI still works
        return None
    return dnf


def run(dnf, params, verb, specs):
    """(rc, out, err) of one dnf transaction, as `dnf -y -q VERB SPECS` would end."""
    if verb not in VERBS:
        raise ValueError("dnfapi: unsupported verb %r" % verb)
    _quiet(dnf)
    base = dnf.Base()
    try:
        configure(dnf, base, params)
        if verb == "makecache":
            base.update_cache()
            return 0, "Metadata cache created.\n", ""
        base.fill_sack(load_system_repo=True, load_available_repos=True)
        mark(base, verb, specs)
        base.resolve(allow_erasing=_erasing(params, [verb]))
        if not base.transaction:
            return 0, "Nothing to do.\n", ""
        installs = list(base.transaction.install_set)
        base.download_packages(installs)
        if not params.get("disable_gpg_check"):
            check_signatures(dnf, base, installs)
        base.do_transaction()
        return 0, "Complete!\n", ""
    except dnf.exceptions.Error as exc:
        return 1, "", "Error: %s\n" % exc
    finally:
        base.close()


def predict(dnf, params, marks):
    """What a transaction would do, resolved as `run` resolves it, changing nothing:
    (installs, removes, unknown) where installs and removes are (name, epoch, version,
    release, arch) tuples (dependencies included) and `unknown` the specs no repository or
    installed package matches. `marks`: [(verb, [specs])]."""
    _quiet(dnf)
    base = dnf.Base()
    try:
        configure(dnf, base, params)
        base.fill_sack(load_system_repo=True, load_available_repos=True)
        unknown = []
        for verb, specs in marks:
            for group in [[s] for s in specs] or [[]]:  # one at a time: which one is unknown
                try:
                    mark(base, verb, group)
                except dnf.exceptions.MarkingError:
                    unknown += group
        if unknown:
            return [], [], unknown
        base.resolve(allow_erasing=_erasing(params, [verb for verb, _ in marks]))
        tx = base.transaction
        return _rows(tx.install_set), _rows(tx.remove_set), []
    finally:
        base.close()


def _erasing(params, verbs):
    """dnf's CLI lets `remove` and `autoremove` erase what requires the packages removed."""
    return bool(params.get("allowerasing")) or any(v in ("remove", "autoremove") for v in verbs)


def _rows(pkgs):
    return sorted((p.name, str(p.epoch), p.version, p.release, p.arch) for p in pkgs)


def _quiet(dnf):
    """No log records on the agent's stderr (Python's last-resort handler): errors come back
    as exceptions, and the CLI's -q prints nothing else either."""
    import logging

    for name in ("dnf", "dnf.rpm", "dnf.plugin"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
            logger.propagate = False


def configure(dnf, base, params):
    """Apply dnf.conf and the module's options to `base`, in the order Ansible's dnf does."""
    conf = base.conf
    if params.get("conf_file"):
        if not os.access(params["conf_file"], os.R_OK):
            raise dnf.exceptions.Error("cannot read configuration file %s" % params["conf_file"])
        conf.config_file_path = params["conf_file"]
    conf.read()
    conf.assumeyes = True
    conf.debuglevel = 0
    installroot = params.get("installroot") or "/"
    if not os.path.isdir(installroot):
        raise dnf.exceptions.Error("Installroot %s must be a directory" % installroot)
    conf.installroot = installroot
    conf.substitutions.update_from_etc(installroot)
    if params.get("releasever"):
        conf.substitutions["releasever"] = params["releasever"]
    if conf.substitutions.get("releasever") is None:  # no system-release package: as the CLI
        conf.substitutions["releasever"] = ""
    if params.get("exclude"):
        conf.exclude = list(conf.exclude) + list(params["exclude"])
    if params.get("skip_broken"):
        conf.strict = False
    if params.get("nobest") or params.get("best") is False:
        conf.best = False
    elif params.get("best"):
        conf.best = True
    if params.get("cacheonly"):
        conf.cacheonly = True
    if params.get("disable_gpg_check"):
        conf.gpgcheck = conf.localpkg_gpgcheck = False
    conf.install_weak_deps = bool(params.get("install_weak_deps", True))
    conf.clean_requirements_on_remove = bool(params.get("autoremove"))
    conf.sslverify = bool(params.get("sslverify", True) and params.get("validate_certs", True))
    base.init_plugins()
    base.pre_configure_plugins()
    base.read_all_repos()
    for pattern in params.get("disablerepo") or []:
        for repo in base.repos.get_matching(pattern):
            repo.disable()
    for pattern in params.get("enablerepo") or []:
        for repo in base.repos.get_matching(pattern):
            repo.enable()
    if params.get("disable_gpg_check"):
        for repo in base.repos.values():
            repo.gpgcheck = repo.repo_gpgcheck = False
    base.configure_plugins()


def mark(base, verb, specs):
    """Mark the specs as the CLI's verb would (files and URLs of .rpm packages too)."""
    strict = bool(base.conf.strict)
    files = [s for s in specs if s.endswith(".rpm") and ("/" in s or "://" in s)]
    names = [s for s in specs if s not in files]
    if verb == "autoremove":
        base.autoremove()
        return
    if files:
        for pkg in base.add_remote_rpms(files, strict=strict):
            if verb == "install":
                base.package_install(pkg, strict=strict)
            else:
                base.package_upgrade(pkg)
    for spec in names:
        if verb == "install":
            base.install(spec, strict=strict)
        elif verb == "upgrade":
            base.upgrade(spec)
        else:
            base.remove(spec)
    if verb == "upgrade" and not specs:
        base.upgrade_all()


def check_signatures(dnf, base, pkgs):
    """The CLI's gpgsigcheck with -y: a package signed by a key not imported yet gets its
    repository's key imported (if that key signs it); anything else unsigned or badly signed
    stops the transaction."""
    for pkg in pkgs:
        code, msg = base.package_signature_check(pkg)
        if code == 1:
            base.package_import_key(pkg, askcb=lambda *a: True, fullaskcb=lambda *a: True)
            code, msg = base.package_signature_check(pkg)
        if code != 0:  # the CLI's words, which rpmpkg recognises
            raise dnf.exceptions.Error("%s: GPG check FAILED" % (msg or pkg))
