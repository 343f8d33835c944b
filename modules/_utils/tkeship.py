"""The tke engine the controller ships (toolkit/enginebundle.py), on the host: where it lives,
whether it is there, and installing it from the uploaded archive.

Layout (BASE is `_tke_engine["base"]` (the `tke_engine_dir` variable), else /usr/local/lib/tke
for root, else ~/.local/lib/tke):

    BASE/.lock                     flock(2) held by every install
    BASE/VERSION-DIGEST16/         one engine version, never changed once in place but USED
        MANIFEST                   `SHA256  PATH` per file; its sha256 is the bundle's digest
        ENTRY                      `module:function` of the tke command (the launcher's)
        lib/toolkit/engine/...     the engine, toolkit/errors.py, lib/pyroute2/...
        bin/tke                    launcher: `#!PYTHON -IS` of the first install, runs lib's tke
        INSTALLED                  the digest, written last: the one cheap check per task
        USED                       touched by the tasks that run it (old versions: removed)
    BASE/.upload-*.tar.gz          archives sent by controllers, removed by their install
    BASE/.tmp-*                    installs in progress (or interrupted: removed by the next)

An install unpacks into BASE/.tmp-*, checks every file against the MANIFEST and the MANIFEST
against the digest, writes the launcher and INSTALLED, syncs, and renames the directory into
place, all under the lock: a directory named VERSION-DIGEST16 is complete or absent, and
concurrent runs install once. A directory of that name without the right INSTALLED (not made
by this code) is replaced. Stdlib only; the code reads as Python 3.6 so that a 3.6 host gets
the "needs Python 3.9" message rather than a syntax error.
"""

import errno
import fcntl
import hashlib
import os
import re
import shutil
import sys
import tarfile
import time

MIN_PYTHON = (3, 9)
ROOT_BASE = "/usr/local/lib/tke"
USER_BASE = "~/.local/lib/tke"
STALE_UPLOAD = 3600.0  # seconds: an upload no install has used by then was abandoned
# an older version is removed by the next install once unused this long (its USED file), and
# when no process and no systemd unit names its directory
UNUSED_FOR = 3600.0
UNIT_DIRS = (
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/local/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
)
VERSION_DIR = re.compile(r"^[0-9A-Za-z.+_]+-[0-9a-f]{16}$")


def python_problem():
    """The message for a Python too old to run the engine, or None."""
    if sys.version_info[:2] >= MIN_PYTHON:
        return None
    return (
        "tke needs Python %d.%d or newer on the host, and this host's interpreter is Python %s "
        "(%s): set ansible_python_interpreter to a Python 3.9+ for this host, or install tke "
        "on it and set tke_path"
        % (MIN_PYTHON + (sys.version.split()[0], sys.executable or "python"))
    )


def base_dir(ship):
    """The directory holding the shipped engines on this host."""
    if ship.get("base"):
        return os.path.abspath(os.path.expanduser(ship["base"]))
    return ROOT_BASE if os.geteuid() == 0 else os.path.expanduser(USER_BASE)


def engine_dir(ship):
    """BASE/VERSION-DIGEST16 for the controller's engine `ship` ({digest, version})."""
    name = "%s-%s" % (ship.get("version") or "0", ship["digest"][:16])
    return os.path.join(base_dir(ship), name)


def installed(path, digest):
    """True when `path` is a complete install of `digest` (its INSTALLED says so)."""
    try:
        with open(os.path.join(path, "INSTALLED")) as handle:
            return handle.read().strip() == digest
    except (IOError, OSError):
        return False


def mark_used(path):
    """Note that a task uses the engine at `path`: its USED file's time, renewed at most every
    quarter of UNUSED_FOR (one stat per task otherwise). Best effort."""
    used = os.path.join(path, "USED")
    try:
        if time.time() - os.stat(used).st_mtime < UNUSED_FOR / 4:
            return
        os.utime(used, None)
    except (IOError, OSError):
        try:
            os.close(os.open(used, os.O_WRONLY | os.O_CREAT, 0o644))
        except (IOError, OSError):
            pass


def launcher_argv(path):
    """The argv prefix that runs this install's tke with the module's own Python (isolated
    and without site, as its launcher's #! line: the host's site-packages play no part)."""
    return [sys.executable, "-I", "-S", os.path.join(path, "bin", "tke")]


def upload_path(ship):
    """A fresh name for the controller's archive (in BASE, which is made if missing)."""
    base = base_dir(ship)
    os.makedirs(base, mode=0o755, exist_ok=True)
    tag = "%s-%d-%s" % (ship["digest"][:16], os.getpid(), os.urandom(4).hex())
    return os.path.join(base, ".upload-%s.tar.gz" % tag)


class InstallError(Exception):
    """The archive cannot be installed; the message names the file and the reason."""


class _Lock(object):
    def __init__(self, base):
        self.path = os.path.join(base, ".lock")

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def install(archive, path, digest):
    """Install `archive` at `path` unless it is there already; True if this call installed it.
    The archive is removed either way. Raises InstallError."""
    base = os.path.dirname(path)
    try:
        with _Lock(base):
            if installed(path, digest):
                return False
            _remove_leftovers(base, archive)
            _replace_foreign(path)
            _install_locked(archive, path, digest)
            _remove_unused_versions(base, path)
            return True
    finally:
        _unlink(archive)


def _install_locked(archive, path, digest):
    tmp = os.path.join(os.path.dirname(path), ".tmp-%s-%d" % (digest[:16], os.getpid()))
    os.mkdir(tmp, 0o755)
    try:
        names = _unpack(archive, tmp)
        _verify(archive, tmp, names, digest)
        _write_launcher(tmp, digest)
        _write(os.path.join(tmp, "INSTALLED"), digest + "\n", 0o644)
        os.sync()  # the files are on disk before their directory's name says they are there
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _unpack(archive, dest):
    """Regular files and directories only, below `dest`; returns the file names."""
    names = []
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                name = _safe_name(archive, member.name)
                target = os.path.join(dest, name)
                if member.isdir():
                    os.makedirs(target, 0o755, exist_ok=True)
                    continue
                if not member.isfile():
                    raise InstallError("%s: %s is not a regular file" % (archive, member.name))
                os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
                with tar.extractfile(member) as src:
                    _write(target, src.read(), 0o644)
                names.append(name)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise InstallError("%s: not a complete tke engine archive (%s)" % (archive, exc)) from None
    return names


def _safe_name(archive, name):
    parts = name.split("/")
    if name.startswith("/") or ".." in parts or not name:
        raise InstallError("%s: unsafe path %r in the archive" % (archive, name))
    return name


def _verify(archive, tmp, names, digest):
    """Every file is in the MANIFEST with its sha256, nothing more or less; the MANIFEST's
    sha256 is `digest`."""
    try:
        with open(os.path.join(tmp, "MANIFEST"), "rb") as handle:
            manifest = handle.read()
    except (IOError, OSError):
        raise InstallError("%s: no MANIFEST in the archive" % archive) from None
    if hashlib.sha256(manifest).hexdigest() != digest:
        raise InstallError("%s: its MANIFEST is not the engine %s" % (archive, digest[:16]))
    listed = {}
    for line in manifest.decode("utf-8").splitlines():
        checksum, _, name = line.partition("  ")
        listed[name] = checksum
    if set(listed) != set(names) - {"MANIFEST"}:
        raise InstallError("%s: its files do not match its MANIFEST" % archive)
    for name, checksum in listed.items():
        if _sha256_of(os.path.join(tmp, name)) != checksum:
            raise InstallError("%s: %s does not match its checksum" % (archive, name))


def _sha256_of(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


# line by line: the agent's import scanner (runner.top_level_imports) reads a module's lines,
# and a template's `import` lines at the start of a line would count as this module's imports
LAUNCHER = "\n".join(
    [
        "#!%(python)s -IS",
        '"""tke: the engine %(digest)s shipped by tk (run by this Python, from ../lib)."""',
        "import os",
        "import sys",
        "",
        "here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))",
        'sys.path.insert(0, os.path.join(here, "lib"))',
        "from %(module)s import %(function)s  # noqa: E402",
        "",
        "sys.exit(%(function)s())",
        "",
    ]
)


def _write_launcher(tmp, digest):
    with open(os.path.join(tmp, "ENTRY")) as handle:
        module, _, function = handle.read().strip().partition(":")
    if not (module.replace(".", "").replace("_", "").isalnum() and function.isidentifier()):
        raise InstallError("ENTRY of the engine %s is not module:function" % digest[:16])
    os.mkdir(os.path.join(tmp, "bin"), 0o755)
    text = LAUNCHER % {
        "python": os.path.realpath(sys.executable),
        "digest": digest[:16],
        "module": module,
        "function": function,
    }
    _write(os.path.join(tmp, "bin", "tke"), text, 0o755)


def _write(path, data, mode):
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def _replace_foreign(path):
    """Move a directory at `path` that is no complete install out of the way (under the
    lock, so nobody is installing it) and delete it."""
    if not os.path.lexists(path):
        return
    aside = ".tmp-foreign-%s-%d" % (os.path.basename(path), os.getpid())
    aside = os.path.join(os.path.dirname(path), aside)
    os.rename(path, aside)
    _remove(aside)


def _remove_leftovers(base, keep):
    """Installs that were interrupted (every .tmp-* is one: installs hold the lock) and
    uploads older than STALE_UPLOAD."""
    now = time.time()
    for name in os.listdir(base):
        full = os.path.join(base, name)
        if name.startswith(".tmp-"):
            _remove(full)
        elif name.startswith(".upload-") and full != keep:
            try:
                if now - os.lstat(full).st_mtime > STALE_UPLOAD:
                    _unlink(full)
            except OSError:
                pass


def _remove_unused_versions(base, keep):
    """Other engine versions in `base` that nothing uses: not run by a task for UNUSED_FOR, not
    named by a live process (a shim, a port proxy, a tke command, a cleanup's PYTHONPATH) nor
    by a systemd unit or drop-in (the boot unit of `tke system service --install`). Each is
    renamed to a .tmp-* name first, so a version directory is whole or absent, as during
    installs."""
    now = time.time()
    stale = []
    for name in os.listdir(base):
        full = os.path.join(base, name)
        if full != keep and VERSION_DIR.match(name) and os.path.isdir(full):
            if now - _last_used(full) > UNUSED_FOR:
                stale.append(full)
    if not stale:
        return
    named = _named_in_use(stale)
    for full in stale:
        if full in named:
            continue
        aside = os.path.join(base, ".tmp-unused-%s-%d" % (os.path.basename(full), os.getpid()))
        try:
            os.rename(full, aside)
        except OSError:
            continue
        _remove(aside)


def _last_used(path):
    """When a task last used the engine at `path` (USED), else when it was installed."""
    times = []
    for name in ("USED", "INSTALLED"):
        try:
            times.append(os.stat(os.path.join(path, name)).st_mtime)
        except OSError:
            pass
    return max(times) if times else 0.0


def _named_in_use(dirs):
    """The directories of `dirs` that a process's command line or environment, or a systemd
    unit file, names (as a path, or the start of one; by this name or through symlinks)."""
    patterns = {}
    for d in dirs:
        names = sorted(set([d, os.path.realpath(d)]))
        alternatives = b"|".join(re.escape(n.encode()) for n in names)
        patterns[d] = re.compile(b"(?:" + alternatives + rb")(?=[/:\s\0]|$)")
    found = set()
    for text in _process_texts() + _unit_texts():
        for d, pattern in patterns.items():
            if d not in found and pattern.search(text):
                found.add(d)
    return found


def _process_texts():
    """The command lines and environments of the processes this user can read."""
    paths = ["/proc/%s/%s" % (pid, what) for pid in _listdir("/proc") if pid.isdigit()
             for what in ("cmdline", "environ")]  # fmt: skip
    return _contents(paths)


def _unit_texts():
    """The unit files in UNIT_DIRS and their drop-ins (NAME.d/*.conf)."""
    paths = []
    for where in UNIT_DIRS:
        for name in _listdir(where):
            full = os.path.join(where, name)
            if name.endswith(".d") and os.path.isdir(full):
                paths.extend(os.path.join(full, n) for n in _listdir(full))
            else:
                paths.append(full)
    return _contents(p for p in paths if os.path.isfile(p))


def _contents(paths):
    """The bytes of each file of `paths` that can be read (a process may be gone by then)."""
    texts = []
    for path in paths:
        try:
            with open(path, "rb") as handle:
                texts.append(handle.read())
        except (IOError, OSError):
            pass
    return texts


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        _unlink(path)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
