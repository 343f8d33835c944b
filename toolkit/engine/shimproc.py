"""Starting a container's shim, cheaply and early (`posix`, `sys`, `marshal`, `_socket`: built in).

    proc = launch(store_root)      # the shim starts now...
    ...                            # ...while tke parses and creates the container
    proc.send_mount(request)       # (`tke run`: the rootfs, mounted while tke goes on)
    sock = proc.attach_socket()    # (an attached caller: its end of the shim's first client)
    proc.send(marshal.dumps(conf)) # its instructions (then it runs the container; shim.py)
    proc.release()                 # once it reported; or:
    proc.abandon()                 # no container after all; it exits

`tke run` calls `launch(fork=True)` first thing in `main()`, before argparse and the engine
are imported: the shim is a fork of that nearly empty process (fork_shim), with no
interpreter of its own to start. Any other caller gets a new interpreter (SHIM_BOOT, ~6 ms
of start-up: forking a process that has imported the engine would copy all of it).
posix_spawn rather than subprocess: importing subprocess costs more than the spawn; `posix`
rather than `os`: importing `os` (~0.8 ms: `_collections_abc` and the path modules) would
delay the launch. Either way the shim names itself `tke-shim` (its comm; a forked one has
`tke`'s command line), which is how `tke` tells a live shim from a reused PID.

The shim starts in its own session as the caller's child: it does not fork again before it
runs the container (that fork was on the way to every start). It is
reaped by later launches in a long-lived caller, or by init once a `tke` command exits; it
opens no terminal, so being a session leader gives it none.

The shim reads its messages from stdin, each a 4-byte length and a marshalled dict: the
rootfs to mount, if `tke run` leaves that to it, then the instructions; its stderr is a pipe
until it has them (an early failure is read from there), and it reports on the status pipe
(see shim.py). One end of a socket pair is its first attach client, already connected: a
caller that attaches (`run` in the foreground, `start -a`) puts what it wants in the
instructions and talks over the other end, so the container starts without a listen/connect
round trip.
"""

import _socket
import marshal
import posix
import sys


def _dirname(path: str) -> str:
    return path.rpartition("/")[0] or "/"


def _absolute(path: str) -> str:
    """`path` made absolute (not normalized: os.path.abspath's import is what is avoided)."""
    return path if path.startswith("/") else f"{posix.getcwd()}/{path}"


def _link_target(path: str) -> str:
    """The file at the end of `path`'s chain of symlinks (a venv's `python`: the system's)."""
    for _ in range(40):
        try:
            target = posix.readlink(path)
        except OSError:
            return path
        path = target if target.startswith("/") else f"{_dirname(path)}/{target}"
    return path


ENGINE_DIR = _dirname(_absolute(__file__))
# Imported rather than run as a script so its bytecode is cached (compiling it in every shim
# would cost memory that the shim keeps for its whole life). It leaves with os._exit: the
# interpreter's tear-down (~2-3 ms) is on `tke run --rm`'s path, which waits for the shim to
# be gone; everything it writes is unbuffered. An exception still ends with its traceback.
# With a container ID (argv[5]), its runtime is started before the instructions come
# (runtimeproc.start_early).
RUNTIME_CACHE = "runtime.cache"  # in the store's root (lifecycle.remember_runtime writes it)
SHIM_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); import shim; "
    f"shim.posix._exit(shim.boot(sys.argv[2:5], (sys.argv[5:] or [''])[0], {RUNTIME_CACHE!r}))"
)
PYTHON = _link_target(_absolute(sys.executable))
PASSED_ENV = (b"TKE_ROOT", b"TKE_RUNTIME", b"PYTHONPATH")


_unreaped: list = []  # pids of children nobody waits for (released shims, spawn.background)


class ShimProc:
    """A launched shim that has not been given its container yet."""

    def __init__(self, pid: int, stdin_w: int, stderr_r: int, status_r: int, sock) -> None:
        self.pid = pid
        self.stdin_w = stdin_w
        self.stderr_r = stderr_r
        self.status_r = status_r
        self.sock = sock  # our end of the shim's first attach client, until taken
        self.returncode = None
        self.store_root = ""
        self.early_id = ""  # the container ID its runtime was started for (runtimeproc.py)

    def attach_socket(self):
        """Our end of the shim's first attach client (the instructions say what it wants);
        the shim sees no client if nobody takes it."""
        sock, self.sock = self.sock, None
        return sock

    def send_mount(self, request: dict) -> None:
        """Ask the shim to mount the container's rootfs now (rootfs.ShimMount.request), before
        its instructions: it mounts while tke writes the container's files and config."""
        self._write(marshal.dumps({"mount": request}))

    def send(self, data: bytes) -> None:
        """Write the instructions (a marshalled dict) and close the shim's stdin (a shim that
        died is not an error here: its status pipe says so)."""
        try:
            self._write(data)
        finally:
            self._close("stdin_w")

    def _write(self, message: bytes) -> None:
        """One message on the shim's stdin: its length (4 bytes, big-endian), then it."""
        try:
            view = memoryview(len(message).to_bytes(4, "big") + message)
            while view:
                view = view[posix.write(self.stdin_w, view) :]
        except BrokenPipeError:
            pass

    def wait(self) -> int:
        """Wait for the shim to exit (one that was abandoned, or died)."""
        if self.returncode is None:
            self.returncode = wait_pid(self.pid)
        return self.returncode

    def read_stderr(self) -> bytes:
        """What the shim wrote to stderr before it had its instructions (EOF once it has
        them or died)."""
        chunks = []
        while self.stderr_r >= 0:
            data = posix.read(self.stderr_r, 65536)
            if not data:
                break
            chunks.append(data)
        self._close("stderr_r")
        return b"".join(chunks)

    def abandon(self) -> None:
        """No container for this shim: without instructions it exits."""
        self._close("stdin_w")
        self._close_sock()
        self.wait()
        self._close("stderr_r")
        self._close("status_r")

    def release(self) -> None:
        """The shim runs its container: release the pipes tke still holds; the shim is reaped
        when it exits (by a later launch, or by init once this process is gone)."""
        self._close("stderr_r")
        self._close("status_r")
        self._close_sock()
        if self.returncode is None:
            reap_later(self.pid)

    def _close_sock(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()

    def _close(self, name: str) -> None:
        fd = getattr(self, name)
        if fd >= 0:
            setattr(self, name, -1)
            try:
                posix.close(fd)
            except OSError:
                pass


def launch(store_root: str, early_id: str = "", fork: bool = False) -> ShimProc:
    """Start a shim that waits for its instructions on stdin. `store_root`: the store it
    serves (its containers dir is on the shim's command line, for `ps` readers).
    `early_id`: the ID the container will have; the shim starts the runtime for it at once
    (runtimeproc.start_early). `fork`: the shim is a fork of this process rather than a new
    interpreter (see fork_shim; only for a caller that has imported next to nothing yet)."""
    env = _shim_env()
    store_root = _absolute(store_root)
    where = f"{store_root}/containers"
    # above 2: a tke started with a closed stdin or stderr gets a pipe there otherwise, which
    # the dup2 actions below would clobber
    reap()
    stdin_r, stdin_w = map(_above_stdio, posix.pipe())
    stderr_r, stderr_w = map(_above_stdio, posix.pipe())
    status_r, status_w = map(_above_stdio, posix.pipe())
    ours, theirs = _socketpair()
    shim_fds = (status_w, theirs.fileno())
    try:
        if fork:
            pid = fork_shim(env, (stdin_r, stderr_w), shim_fds, where, early_id)
        else:
            pid = _spawn_shim(env, (stdin_r, stderr_w), shim_fds, where, early_id)
    except BaseException:
        for fd in (stdin_w, stderr_r, status_r):
            posix.close(fd)
        ours.close()
        raise
    finally:
        for fd in (stdin_r, stderr_w, status_w):
            posix.close(fd)
        theirs.close()
    proc = ShimProc(pid, stdin_w, stderr_r, status_r, ours)
    proc.store_root = store_root
    proc.early_id = early_id
    return proc


def _shim_env() -> dict:
    environ = posix.environ
    env = {b"PATH": environ.get(b"PATH", b"/usr/sbin:/usr/bin:/sbin:/bin")}
    for key in PASSED_ENV:
        if key in environ:
            env[key] = environ[key]
    root = _package_root().encode(sys.getfilesystemencoding(), "surrogateescape")
    env[b"PYTHONPATH"] = root + (b":" + env[b"PYTHONPATH"] if b"PYTHONPATH" in env else b"")
    return env


def _spawn_shim(env: dict, stdio: tuple, shim_fds: tuple, where: str, early_id: str) -> int:
    """The shim as a new interpreter (SHIM_BOOT)."""
    for fd in shim_fds:
        posix.set_inheritable(fd, True)
    argv = [PYTHON, "-I", "-S", "-c", SHIM_BOOT, ENGINE_DIR, where] + [str(fd) for fd in shim_fds]
    if early_id:
        argv.append(early_id)
    actions = [(posix.POSIX_SPAWN_DUP2, stdio[0], 0), (posix.POSIX_SPAWN_DUP2, stdio[1], 2)]
    actions.append((posix.POSIX_SPAWN_OPEN, 1, "/dev/null", posix.O_WRONLY, 0))
    # fds tke inherited without close-on-exec (a caller's pipes) must not live on in the
    # shim: a caller reading such a pipe to EOF would wait for the container's whole life
    actions += [(posix.POSIX_SPAWN_CLOSE, fd) for fd in inherited_fds(*shim_fds)]
    return posix.posix_spawn(PYTHON, argv, env, file_actions=actions, setsid=True)


def fork_shim(env: dict, stdio: tuple, shim_fds: tuple, where: str, early_id: str) -> int:
    """The shim as a fork of this process, which must have imported next to nothing (tke's
    entry point): a new interpreter's start-up (~6 ms of CPU, on a host where every start
    shares two cores with tke's own work) is saved, and the runtime starts that much sooner.
    The child keeps only its stdio and the shim's fds, the shim's environment (as SHIM_BOOT
    gets it) and never returns: it runs shim.main and exits."""
    pid = posix.fork()
    if pid:
        return pid
    code = 1
    try:
        _become_shim(env, stdio, shim_fds)
        sys.path.insert(0, ENGINE_DIR)
        import shim

        code = shim.boot([where] + [str(fd) for fd in shim_fds], early_id, RUNTIME_CACHE)
    except BaseException:
        import traceback

        traceback.print_exc()  # to the stderr pipe `tke` reads
    finally:
        posix._exit(code)


def _become_shim(env: dict, stdio: tuple, shim_fds: tuple) -> None:
    posix.setsid()
    posix.dup2(stdio[0], 0)
    posix.dup2(stdio[1], 2)
    null = posix.open("/dev/null", posix.O_WRONLY)
    posix.dup2(null, 1)
    low = 3
    for fd in sorted(shim_fds):
        posix.closerange(low, fd)
        low = fd + 1
    posix.closerange(low, 65536)
    posix.environ.clear()
    posix.environ.update(env)


def reap_later(pid: int) -> None:
    """A child this process will not wait for: `reap` collects it once it has exited."""
    _unreaped.append(pid)


def reap() -> None:
    """Collect the children given to `reap_later` that have exited (no zombies in a
    long-lived caller; a `tke` command leaves them to init)."""
    for pid in list(_unreaped):
        try:
            done, _ = posix.waitpid(pid, posix.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _unreaped.remove(pid)


def wait_pid(pid: int) -> int:
    """Reap a child; its exit code (0 if someone else reaped it already)."""
    while True:
        try:
            return posix.waitstatus_to_exitcode(posix.waitpid(pid, 0)[1])
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0


def _socketpair() -> tuple:
    """A connected pair of unix stream sockets, both on fds above 2."""
    pair = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    out = []
    for sock in pair:
        fd = sock.fileno()
        if fd > 2:
            out.append(sock)
        else:
            out.append(_socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, _above_stdio(fd)))
            sock.detach()
    return tuple(out)


def _above_stdio(fd: int) -> int:
    if fd > 2:
        return fd
    import fcntl

    try:
        return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    finally:
        posix.close(fd)


def inherited_fds(*keep: int) -> list:
    """This process's fds above 2 that a child would inherit (not close-on-exec), but `keep`."""
    try:
        names = posix.listdir("/proc/self/fd")
    except OSError:
        return []
    fds = []
    for name in names:
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                if posix.get_inheritable(fd):
                    fds.append(fd)
            except OSError:  # the listing's own fd, closed by now
                pass
    return fds


def _package_root() -> str:
    return _dirname(_dirname(ENGINE_DIR))
