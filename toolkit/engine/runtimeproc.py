"""The OCI runtime's process as the shim starts it, and its early start for `tke run`.

Stand-alone like shim.py, which imports it (built-in modules only, `_ctypes` for a few libc
calls: no `os`, no `ctypes`).

    pid = spawn(argv, stdin, stdout, stderr, private_cgroup_ns, sealed)
    early = start_early(store_root, cid, cache)  # crun, before tke has written the config
    early.matches(cfg) and early.feed(config_path, mounts)   # or early.cancel()

**The early start.** `tke run` spends ~8 ms importing, parsing and creating the container
before its shim has the instructions; crun then spends ~2.5 ms loading itself (exec, the
dynamic linker, its arguments and state directory) before it reads its config. So the shim,
once its own imports are done, starts crun with the container's ID (chosen by `tke` before it
launched the shim) and `--config` on a FIFO in the store's tmp directory: crun's start
overlaps tke's work and then waits in open(2). It is started with the runtime command line
tke last used in this store (`cache`, which tke writes when it changes), with no
terminal and stdin on /dev/null; the shim uses it when its instructions ask for exactly that,
and otherwise kills it and starts the runtime as before. crun reads the config twice: to
create the container, then (in its detached child) to copy it into its state directory;
`feed` writes the first through the FIFO and has the bundle's config.json in the FIFO's place
before that read ends. The runtime dies with the shim (PR_SET_PDEATHSIG) until it has its
config, so a shim that dies first leaves no crun behind.
"""

import marshal
import posix

CLONE_NEWNS, MNT_DETACH, MS_REC, MS_SLAVE = 0x00020000, 2, 0x4000, 0x80000
MFD_CLOEXEC, MFD_ALLOW_SEALING, F_ADD_SEALS = 1, 2, 1033
ALL_SEALS = 0x1 | 0x2 | 0x4 | 0x8  # F_SEAL_SEAL, _SHRINK, _GROW, _WRITE
PR_SET_PDEATHSIG, SIGKILL, ENXIO, ENOENT = 1, 9, 6, 2
AT_FDCWD, SYS_OPEN_TREE, SYS_MOVE_MOUNT = -100, 428, 429  # the same numbers on every arch
OPEN_TREE_CLONE, MOVE_MOUNT_F_EMPTY_PATH = 1, 4
_LIBC = {}


def libc(name, *args):
    """Call a libc function with int / bytes / None arguments (no `ctypes` import: it would
    pull in more Python than the shim's whole job); errno() is its errno if it failed."""
    return _libc_func(name)(*args)


def _libc_func(name):
    lib = _types()
    return lib["func"]((name, lib["lib"]))


def _types():
    if not _LIBC:
        import _ctypes  # ~0.8 ms, at the first call (`tke run` itself makes none)

        class CInt(_ctypes._SimpleCData):
            _type_ = "i"

        class CULong(_ctypes._SimpleCData):
            _type_ = "L"

        class CFunc(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = CInt

        class Libc:
            _handle = _ctypes.dlopen(None, 0)

        _LIBC.update(func=CFunc, lib=Libc, ulong=CULong, errno=_ctypes.get_errno)
    return _LIBC


def ulong(value):
    """An unsigned long argument (mount's flags)."""
    return _types()["ulong"](value)


def errno():
    return _LIBC["errno"]() if _LIBC else 0


def mount(source, target, fstype, flags, data):
    """mount(2) (bytes, an int for the flags); OSError if it fails."""
    if libc("mount", source, target, fstype, ulong(flags), data) != 0:
        err = errno()
        where = f"mount {fstype.decode()} on {target.decode()}"
        raise OSError(err, f"{where}: {posix.strerror(err)}")


def execvp(argv):
    """posix.execve with posix.environ (a forked shim's: shimproc.fork_shim), PATH searched
    for a bare program name (as os.execvp)."""
    if "/" in argv[0]:
        posix.execve(argv[0], argv, posix.environ)
    path = posix.environ.get(b"PATH", b"/usr/sbin:/usr/bin:/sbin:/bin").decode()
    for entry in path.split(":"):
        try:
            posix.execve(f"{entry or '.'}/{argv[0]}", argv, posix.environ)
        except OSError:
            continue
    raise FileNotFoundError(ENOENT, "No such file or directory", argv[0])


def spawn(argv, stdin, stdout, stderr, private_cgroup_ns=False, sealed=False, pdeathsig=False):
    """argv in a child with these stdio; `sealed`: exec argv[0] from a sealed copy;
    `pdeathsig`: the child is killed if this process dies."""
    _types()  # `_ctypes` loaded before the fork, not in each child
    pid = posix.fork()
    if pid == 0:
        try:
            posix.dup2(stdin, 0)
            posix.dup2(stdout, 1)
            posix.dup2(stderr, 2)
            posix.closerange(3, 65536)
            import _signal

            _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
            if pdeathsig:
                libc("prctl", PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
            if private_cgroup_ns:
                hide_hybrid_cgroup2()
            if sealed:
                exec_sealed(argv)
            execvp(argv)
        finally:
            posix._exit(127)
    return pid


def exec_sealed(argv):
    """Exec argv[0] (a full path) from a fully sealed in-memory copy. crun, like runc 1.1,
    re-executes itself from such a copy before it sets up a container, so that the container
    cannot overwrite the host's binary through /proc/self/exe (CVE-2019-5736), and skips that
    when it already runs from one: one exec of crun (~0.7 ms) less per container start, with
    the same protection. Returns (and the caller execs the file) if the copy cannot be made."""
    try:
        fd = posix.memfd_create("runtime", MFD_CLOEXEC | MFD_ALLOW_SEALING)
        src = posix.open(argv[0], posix.O_RDONLY | posix.O_CLOEXEC)
        size, sent = posix.fstat(src).st_size, 0
        while sent < size:
            n = posix.sendfile(fd, src, sent, size - sent)
            if n <= 0:
                return
            sent += n
        posix.close(src)
        if libc("fcntl", fd, F_ADD_SEALS, ALL_SEALS) != 0:
            return
        posix.execve(fd, argv, posix.environ)
    except (OSError, AttributeError):  # no memfd_create (kernel < 3.17)
        return


def hide_hybrid_cgroup2():
    """In this (child) process only: a private mount namespace without the hybrid cgroup2 mount,
    so crun sees a pure v1 host (what `unshare -m sh -c 'umount ...; exec crun'` does, without
    three extra programs)."""
    if libc("unshare", CLONE_NEWNS) != 0:
        posix.write(2, b"unshare(CLONE_NEWNS) failed\n")
        posix._exit(125)
    libc("mount", None, b"/", None, MS_REC | MS_SLAVE, None)
    libc("umount2", b"/sys/fs/cgroup/unified", MNT_DETACH)


def start_early(store_root, cid, cache):
    """crun started for container `cid`, waiting for its config (None if tke recorded no
    runtime for this store in its file `cache` (marshal {runtime, hide, sealed}:
    shimproc.RUNTIME_CACHE), or the FIFO cannot be made: then nothing was started)."""
    try:
        with open(f"{store_root}/{cache}", "rb") as fh:
            known = marshal.load(fh)
        runtime = [str(arg) for arg in known["runtime"]]
    except (OSError, EOFError, ValueError, TypeError, KeyError):
        return None
    tmp = f"{store_root}/tmp"
    # named as Store.staging names: a dead shim's are stale (Store.clean_stale_tmp)
    base = f"{tmp}/early-{posix.getpid()}-{cid}"
    fifo, pidfile = f"{base}.json", f"{base}.pid"
    try:
        posix.mkfifo(fifo, 0o600)
    except OSError:
        return None
    out, err = posix.pipe(), posix.pipe()
    null = posix.open("/dev/null", posix.O_RDONLY | posix.O_CLOEXEC)
    argv = runtime + ["run", "--detach", "--bundle", tmp, "--pid-file", pidfile]
    argv += ["--config", fifo, cid]
    hide, sealed = bool(known.get("hide")), bool(known.get("sealed"))
    pid = spawn(argv, null, out[1], err[1], hide, sealed, pdeathsig=True)
    posix.close(null)
    return Early(pid, cid, fifo, pidfile, known, out, err)


class Early:
    """A runtime process started by start_early."""

    def __init__(self, pid, cid, fifo, pidfile, known, out, err):
        self.pid, self.cid, self.fifo, self.pidfile = pid, cid, fifo, pidfile
        self.known = known  # the runtime command line it was started with
        self.out, self.err = out, err  # (read end, write end) of its stdout and its stderr

    def matches(self, cfg):
        """Whether the shim's instructions `cfg` ask for the runtime started here."""
        known = {
            "runtime": cfg["runtime"],
            "hide": bool(cfg.get("hide_hybrid_cgroup2")),
            "sealed": bool(cfg.get("sealed_exec")),
        }
        plain = not cfg.get("tty") and not cfg.get("stdin")
        return plain and cfg["id"] == self.cid and known == self.known

    def cancel(self):
        """Not wanted after all: killed (it waits in open(2)), reaped, its files removed."""
        try:
            posix.kill(self.pid, SIGKILL)
            posix.waitpid(self.pid, 0)
        except OSError:
            pass
        for fd in self.out + self.err:
            posix.close(fd)
        self.forget(self.pidfile)

    def forget(self, pidfile=None):
        """The FIFO's path removed (the config's second name once fed), and the pid file."""
        for path in (self.fifo, pidfile):
            try:
                if path:
                    posix.unlink(path)
            except OSError:
                pass

    def feed(self, config_path, mounts, meanwhile=None):
        """Give the runtime the config at `config_path` (the bundle's) once it has the FIFO
        open, after the `mounts` tke made for the container (its rootfs, its network
        namespace) are visible in the runtime's mount namespace (graft). `meanwhile()` is
        called once if the runtime is not ready yet. False, with nothing written, if the
        runtime exited before it opened the FIFO or a mount cannot be shown to it (the
        caller then cancels it)."""
        fd = self._open_fifo(meanwhile)
        if fd < 0:
            return False
        try:
            if not all(self.graft(path) for path in mounts):
                return False
            with open(config_path, "rb") as fh:
                data = fh.read()
            posix.link(config_path, f"{self.fifo}.next")
            posix.rename(f"{self.fifo}.next", self.fifo)
            posix.set_blocking(fd, True)
            view = memoryview(data)
            while view:
                view = view[posix.write(fd, view) :]
        except OSError:  # the FIFO gone, the config unreadable: the caller starts one itself
            return False
        finally:
            posix.close(fd)
        return True

    def _open_fifo(self, meanwhile=None, timeout=30.0):
        """The FIFO's writing end once the runtime has opened its reading end (O_NONBLOCK:
        ENXIO until then), or -1 if the runtime exited first or is not there in `timeout`."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                return posix.open(self.fifo, posix.O_WRONLY | posix.O_NONBLOCK | posix.O_CLOEXEC)
            except OSError as exc:
                if exc.errno != ENXIO:
                    return -1
            if posix.waitid(posix.P_PID, self.pid, posix.WEXITED | posix.WNOHANG | posix.WNOWAIT):
                return -1
            if meanwhile is not None:
                meanwhile, later = None, meanwhile
                later()
            else:
                time.sleep(0.0001)
        return -1

    def graft(self, path):
        """Make the mount at `path` visible in the runtime's mount namespace. Nothing to do if
        it shares ours, or if the mount propagated there (a shared mount above it: hosts run
        by systemd); otherwise (a private namespace, made for the hybrid cgroup layout before
        tke mounted this, under a private mount) a copy of the mount (open_tree) is attached
        there (move_mount, from inside it: setns). False if that fails (kernel < 5.2)."""
        try:
            ours, theirs = posix.stat(path), posix.stat(f"/proc/{self.pid}/root{path}")
        except OSError:
            return False
        if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino):
            return True
        tree = libc("syscall", SYS_OPEN_TREE, AT_FDCWD, path.encode(), OPEN_TREE_CLONE)
        if tree < 0:
            return False
        flags = posix.O_RDONLY | posix.O_CLOEXEC
        fds = [tree, posix.open(".", flags), posix.open("/proc/self/ns/mnt", flags)]
        try:
            fds.append(posix.open(f"/proc/{self.pid}/ns/mnt", flags))
            if libc("setns", fds[3], CLONE_NEWNS) != 0:
                return False
            args = (SYS_MOVE_MOUNT, tree, b"", AT_FDCWD, path.encode(), MOVE_MOUNT_F_EMPTY_PATH)
            moved = libc("syscall", *args) == 0
            if libc("setns", fds[2], CLONE_NEWNS) != 0:  # cannot fail: our own namespace
                posix._exit(125)
            posix.fchdir(fds[1])
            return moved
        finally:
            for fd in fds:
                posix.close(fd)
