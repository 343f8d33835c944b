"""Per-container supervisor: one small process per running container (podman's conmon).

Started by tke as `python3 -I -S shim.py CONTAINERS_DIR STATUS_FD ATTACH_FD [ID]` in its own
session (in practice imported by a one-line `-c` program so its bytecode is cached; stdlib
only, imports nothing of the engine but runtimeproc.py, so it stays a few MB; shimproc.py).
It becomes a child subreaper, runs `RUNTIME run --detach` (or feeds the config to the crun
it started before the instructions came: runtimeproc.py) and, while that runs, listens on
the container's attach socket; then:

- owns the container's stdio: pipes, or the pty master received over `--console-socket` (-t);
- writes docker's json-file log (`{"log": "...\\n", "stream": "stdout", "time": "..."}` lines);
- serves attach clients on a unix socket (protocol below);
- reaps the container, records exit code and times in CTRDIR/state.json (atomically);
- honours restart policies (no, on-failure[:N], always, unless-stopped) unless CTRDIR/stopped
  exists (tke stop/kill writes it), with docker's doubling back-off;
- at the end: `RUNTIME delete` (or what it would do, here: remove the container's cgroups
  and the runtime's state directory), unmount the rootfs, and for --rm exec the engine's cleanup
  command — unless an attached client claimed the removal (foreground `tke run --rm`): then
  only `RUNTIME delete`, after the exit frame, while the client unmounts and moves the
  container's directory to STORE/tmp/trash-SHIMPID-ID, which the shim then deletes.

Status lines to STATUS_FD (JSON): {"started": PID} or {"error": MSG}.

Attach protocol: the client sends one JSON line {"stdin","stdout","stderr","claim_rm","rows",
"cols"}, then frames `>BI` (type, length) + payload: 0 stdin data, 1 stdin closed, 2 resize
("ROWS COLS"). The shim sends frames 1 stdout, 2 stderr, 3 exit (the exit code in ASCII).
The first client, on ATTACH_FD, is connected already and sends no line: what it wants is the
instructions' `attach` (without one, ATTACH_FD is closed).

Messages on the shim's stdin (receive; shimproc.ShimProc writes them), each a 4-byte length
and a `marshal`led dict (the same interpreter reads them, and `marshal` is built in where
`_json` is a library to load): first, from `tke run`, {"mount": REQUEST}: the container's
rootfs (mount_rootfs), sent as soon as the container is created and mounted at once, while
tke writes its files and config; then the instructions: id, bundle, runtime (argv prefix),
hide_hybrid_cgroup2 (run the runtime in a private mount namespace without
/sys/fs/cgroup/unified: crun on hybrid hosts), sealed_exec (exec the runtime from a sealed
in-memory copy: exec_sealed), tty, stdin, stdin_once, log (and log_max_size, log_max_files:
rotate_log), sock, console_sock,
pidfile, restart {Name, MaximumRetryCount}, autoremove, cleanup (argv), merged, attach, tmp_dir
(the store's), runtime_state (the runtime's directory of this container), cgroup (its
cgroupsPath), network (what release_network undoes, or None), bpf_cache ({"from", "to"}: copy
the runtime's compiled seccomp program there once the container runs, for bpfopt.py to make
compact in a process of its own; bpfcache.py), rm_paths
(what a claimed removal touches: remove_claimed; None: the client removes the container).
"""

# Only C modules past the interpreter's own, and not `os` either (~1 ms of a `-I -S`
# interpreter's start: `_collections_abc` and the path modules; `posix` is what it wraps):
# everything the shim does before the runtime starts is on the way to every container start.
# `json`, `socket`, `signal` and `ctypes` would pull in `re` and `enum` and cost ~2 MB per
# container (PSS). `_json` and `_socket` are imported once the runtime runs (`_c`).
import _signal
import _struct
import errno
import marshal
import posix
import select
import sys
import time

try:  # as the shim: the engine's directory is on sys.path (shimproc.py)
    from runtimeproc import execvp, libc, mount, spawn, start_early
except ImportError:  # imported by the engine
    from toolkit.engine.runtimeproc import execvp, libc, mount, spawn, start_early

FRAME = _struct.Struct(">BI")
DEVNULL = "/dev/null"
_C = {}


def _c(name):
    """`_json` or `_socket`, imported on first use (after the runtime has started)."""
    mod = _C.get(name)
    if mod is None:
        mod = _C[name] = __import__(name)
    return mod


def join(*parts):
    return "/".join(parts)


def exists(path, stat=posix.stat):
    try:
        stat(path)
        return True
    except (OSError, ValueError):
        return False


def lexists(path):
    return exists(path, posix.lstat)


class _JsonContext:
    strict = False
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict = {}


def loads(text):
    if isinstance(text, bytes):
        text = text.decode()
    text = text.strip()
    scan = _C.get("scan")
    if scan is None:
        scan = _C["scan"] = _c("_json").make_scanner(_JsonContext())
    value, end = scan(text, 0)
    if end != len(text):
        raise ValueError("trailing data")
    return value


def dumps(value):
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _c("_json").encode_basestring_ascii(value)
    if isinstance(value, dict):
        return "{" + ",".join(dumps(str(k)) + ":" + dumps(v) for k, v in value.items()) + "}"
    return "[" + ",".join(dumps(v) for v in value) + "]"


def unix_socket(fd=None):
    sock = _c("_socket")
    return sock.socket(sock.AF_UNIX, sock.SOCK_STREAM, 0, fd)


def accept(listener):
    fd, _ = listener._accept()
    return unix_socket(fd)


def recv_fd(conn):
    """One file descriptor sent with SCM_RIGHTS (the runtime's --console-socket)."""
    sock = _c("_socket")
    _, ancdata, _, _ = conn.recvmsg(1024, sock.CMSG_SPACE(4))
    for level, kind, data in ancdata:
        if level == sock.SOL_SOCKET and kind == sock.SCM_RIGHTS and len(data) >= 4:
            return _struct.unpack("i", data[:4])[0]
    return -1


STDIN, STDIN_CLOSE, RESIZE = 0, 1, 2
STDOUT, STDERR, EXIT = 1, 2, 3


def now():
    t = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t // 10**9)) + f".{t % 10**9:09d}Z"


def write_json(path, data):
    tmp = f"{path}.tmp-{posix.getpid()}"
    with open(tmp, "w") as fh:
        fh.write(dumps(data))
    posix.replace(tmp, path)


def release_network(paths, cid):
    """Undo network.attach once the container is stopped for good: stop its port proxy,
    delete its DNAT rules, unmount its network namespace (its veth pair goes with it) and free
    its address.
    `paths`: network.release_paths; each step is skipped if already done."""
    try:
        with open(paths["proxy_pid"]) as fh:
            pid = int(fh.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            ours = b"portproxy" in fh.read()  # not a process that reused a dead proxy's PID
        if pid > 1 and ours:
            posix.kill(pid, _signal.SIGTERM)
    except (OSError, ValueError):
        pass
    for argv in paths.get("rules") or []:  # the published ports' DNAT (network.dnat)
        null = posix.open(DEVNULL, posix.O_RDWR)
        wait_pid(spawn(argv, null, null, null))
        posix.close(null)
    netns = paths["netns"]
    if exists(netns):
        libc("umount2", netns.encode(), 2)  # MNT_DETACH
    for path in (paths["proxy_pid"], netns, paths["live"]):
        try:
            posix.unlink(path)
        except OSError:
            pass
    try:
        with open(paths["ip_file"]) as fh:
            mine = fh.read().strip() == cid
        if mine:
            posix.unlink(paths["ip_file"])
    except OSError:
        pass


def wait_pid(pid):
    while True:
        try:
            _, status = posix.waitpid(pid, 0)
            return posix.waitstatus_to_exitcode(status)
        except InterruptedError:
            continue
        except ChildProcessError:
            return -1


def read_available(fd):
    out = b""
    posix.set_blocking(fd, False)
    try:
        while True:
            data = posix.read(fd, 65536)
            if not data:
                break
            out += data
    except OSError:
        pass
    return out


def become_subreaper():
    libc("prctl", 36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


class Client:
    def __init__(self, sock, want):
        self.sock = sock
        self.want = want
        self.buf = b""

    def send(self, kind, data):
        try:
            self.sock.sendall(FRAME.pack(kind, len(data)) + data)
            return True
        except OSError:
            return False


class Shim:
    def __init__(self, cfg, status_fd, attach_fd, early=None, rootfs_error=None):
        self.early = early  # the runtime started before the instructions came (runtimeproc)
        self.rootfs_error = rootfs_error  # the OSError of the rootfs's mount, if it failed
        self.unsettled = None  # what kept settle_in from making the shim's files
        self.early_done = None  # the early runtime, once the container it started runs
        self.status_fd = status_fd
        self.cfg = cfg
        if isinstance(self.cfg.get("attach"), dict):
            self.first_client = attach_fd  # connected: becomes a Client in settle_in
        else:
            self.first_client = -1
            posix.close(attach_fd)
        self.dir = ctrdir = self.cfg["bundle"]
        self.id = self.cfg["id"]
        self.state_path = join(ctrdir, "state.json")
        self.state = {
            "Status": "created",
            "Pid": 0,
            "ExitCode": 0,
            "StartedAt": "",
            "FinishedAt": "",
            "RestartCount": 0,
            "ShimPid": posix.getpid(),
            "Error": "",
        }
        self.clients = []
        self.outputs = {}
        self.partial = {STDOUT: b"", STDERR: b""}
        self.stdin_fd = -1
        self.pid = 0
        self.exit_code = None
        self.exit_time = 0.0
        self.started_mono = 0.0
        self.log = None  # opened while the runtime starts the container (settle_in)
        self.log_size = 0
        self.listener = None  # the attach socket, made then too

    # --- status and state ----------------------------------------------------------------
    def status(self, **msg):
        if self.status_fd >= 0:
            try:
                posix.write(self.status_fd, (dumps(msg) + "\n").encode())
            except OSError:
                pass

    def save(self, **changes):
        self.state.update(changes)
        self.state["ShimPid"] = posix.getpid()
        write_json(self.state_path, self.state)

    # --- container start -----------------------------------------------------------------
    def start_container(self):
        cfg = self.cfg
        error, self.rootfs_error = self.rootfs_error, None  # reported once (a restart: mounted)
        if error is not None:
            if self.early is not None:
                self.early.cancel()
                self.early = None
            raise RootfsError(error.strerror)
        devnull = posix.open(DEVNULL, posix.O_RDWR)
        early = self.early_runtime()
        if early is not None:
            pid, pidfile, console, child_in = early.pid, early.pidfile, None, devnull
            (out_r, out_w), (err_r, err_w) = early.out, early.err
            self.outputs.update({out_r: STDOUT, err_r: STDERR})
        else:
            pid, pidfile, console, child_in, out_w, err_r, err_w = self.spawn_runtime(devnull)
        if self.log is None:
            self.try_settle_in()
        for fd in {child_in, out_w, err_w, devnull}:
            posix.close(fd)
        rc = self.wait_create(pid, console)
        if early is not None and (rc != 0 or self.unsettled is not None):
            early.forget(early.pidfile)  # no start to report
        if self.unsettled is not None:  # no log, no state: the container must not run
            if rc == 0:
                self.runtime(*(cfg["runtime"] + ["delete", "--force", self.id]))
            raise self.unsettled
        if rc != 0:
            msg = read_available(err_r).decode("utf-8", "replace").strip()
            self.outputs.pop(err_r, None)
            posix.close(err_r)
            raise RuntimeError(msg or f"runtime run failed (exit {rc})")
        if console is not None:
            posix.close(err_r)
        with open(pidfile) as fh:
            self.pid = int(fh.read().strip())
        self.early_done = early  # its files are removed once the start is reported
        self.exit_code = None
        self.started_mono = time.monotonic()
        running = {"Status": "running", "Pid": self.pid, "StartedAt": now(), "Error": ""}
        self.reap()
        if self.exit_code is None:
            self.save(ExitCode=0, **running)
        else:  # gone already (`true`): one write takes its state from created to exited
            self.state.update(running)

    def early_runtime(self):
        """The runtime started before the instructions came (runtimeproc.start_early), given
        its config; None if there is none, or it does not fit them (then it is gone). The
        shim's own files are made while the runtime is not ready for its config yet."""
        early, self.early = self.early, None
        if early is None:
            return None
        config = join(self.cfg["bundle"], "config.json")
        mounts = [self.cfg["merged"]]  # and its network namespace's, if tke made one
        mounts += [self.cfg["network"]["netns"]] if self.cfg.get("network") else []
        if early.matches(self.cfg) and early.feed(config, mounts, self.try_settle_in):
            return early
        early.cancel()
        return None

    def spawn_runtime(self, devnull):
        """`RUNTIME run --detach` (create + start in one process: one exec less than two),
        with pipes for its stdio or, for -t, a console socket to receive the pty on."""
        cfg = self.cfg
        err_r, err_w = posix.pipe()
        child_in, out_w = devnull, devnull
        console = None
        if cfg["tty"]:
            console = unix_socket()
            try:
                posix.unlink(cfg["console_sock"])
            except FileNotFoundError:
                pass
            console.bind(cfg["console_sock"])
            console.listen(1)
        else:
            if cfg["stdin"]:
                child_in, self.stdin_fd = posix.pipe()
            out_r, out_w = posix.pipe()
            self.outputs.update({out_r: STDOUT, err_r: STDERR})
        try:
            posix.unlink(cfg["pidfile"])
        except FileNotFoundError:
            pass
        argv = cfg["runtime"] + ["run", "--detach", "--bundle", cfg["bundle"]]
        argv += ["--pid-file", cfg["pidfile"]]
        if console is not None:
            argv += ["--console-socket", cfg["console_sock"]]
        hide = bool(cfg.get("hide_hybrid_cgroup2"))
        sealed = bool(cfg.get("sealed_exec"))
        pid = spawn(argv + [self.id], child_in, out_w, err_w, hide, sealed)
        return pid, cfg["pidfile"], console, child_in, out_w, err_r, err_w

    def try_settle_in(self):
        """settle_in, its failure kept for start_container (which then stops the container)."""
        if self.log is None and self.unsettled is None:
            try:
                self.settle_in()
            except OSError as exc:
                self.unsettled = exc

    def settle_in(self):
        """The shim's own files, made while the runtime's `run` (~10 ms) starts the container
        rather than before it: stderr to CTRDIR/shim.err, the json-file log, a first state.json
        (with ShimPid), the attach socket. Each file made costs ~0.2 ms on a journalled disk."""
        flags = posix.O_WRONLY | posix.O_CREAT | posix.O_APPEND
        err = posix.open(join(self.dir, "shim.err"), flags, 0o600)
        posix.dup2(err, 2)
        posix.close(err)
        self.log = open(self.cfg["log"], "ab", buffering=0)
        self.log_size = posix.fstat(self.log.fileno()).st_size
        self.save()
        self.listener = listen(self.cfg["sock"])
        if self.first_client >= 0:
            fd, self.first_client = self.first_client, -1
            self.add_client(unix_socket(fd), self.cfg["attach"])

    def wait_create(self, pid, console):
        if console is None:
            return wait_pid(pid)
        rc = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([console], [], [], 0.05)
            if ready:
                conn = accept(console)
                fd = recv_fd(conn)
                conn.close()
                if fd >= 0:
                    self.outputs[fd] = STDOUT
                    self.stdin_fd = fd
                    self.resize(self.cfg.get("rows"), self.cfg.get("cols"))
                break
            done, status = posix.waitpid(pid, posix.WNOHANG)
            if done:
                rc = posix.waitstatus_to_exitcode(status)
                break
        console.close()
        try:
            posix.unlink(self.cfg["console_sock"])
        except OSError:
            pass
        return wait_pid(pid) if rc is None else rc

    def resize(self, rows, cols):
        if not (self.cfg["tty"] and rows and cols and self.stdin_fd >= 0):
            return
        import fcntl
        import termios

        try:
            fcntl.ioctl(self.stdin_fd, termios.TIOCSWINSZ, _struct.pack("HHHH", rows, cols, 0, 0))
        except OSError:
            pass

    # --- output and log ------------------------------------------------------------------
    def output(self, stream, data):
        name = b'"stdout"' if stream == STDOUT else b'"stderr"'
        buf = self.partial[stream] + data
        lines = buf.split(b"\n")
        self.partial[stream] = lines.pop()
        for line in lines:
            self.log_line(line + b"\n", name)
        if len(self.partial[stream]) > 16384:
            self.log_line(self.partial[stream], name)
            self.partial[stream] = b""
        for client in list(self.clients):
            key = "stdout" if stream == STDOUT else "stderr"
            if client.want.get(key) and not client.send(stream, data):
                self.drop(client)

    def log_line(self, raw, name):
        text = _c("_json").encode_basestring_ascii(raw.decode("utf-8", "replace"))
        entry = b'{"log":' + text.encode() + b',"stream":' + name
        entry += b',"time":"' + now().encode() + b'"}\n'
        self.log.write(entry)
        limit = self.cfg.get("log_max_size") or 0
        if limit:
            self.log_size += len(entry)
            if self.log_size >= limit:
                self.rotate_log()

    def rotate_log(self):
        """docker's json-file rotation (`--log-opt max-size=...,max-file=N`): LOG becomes
        LOG.1, LOG.1 LOG.2 and so on up to LOG.(N-1), the oldest is dropped, and a new LOG is
        started; with N = 1 the log starts again empty."""
        path, keep = self.cfg["log"], int(self.cfg.get("log_max_files") or 1)
        self.log.close()
        try:
            for n in range(keep - 1, 1, -1):
                try:
                    posix.rename(f"{path}.{n - 1}", f"{path}.{n}")
                except FileNotFoundError:
                    pass
            if keep > 1:
                posix.rename(path, path + ".1")
        finally:
            self.log = open(path, "ab" if keep > 1 else "wb", buffering=0)
            self.log_size = 0

    def flush_partial(self):
        for stream, rest in self.partial.items():
            if rest:
                self.log_line(rest, b'"stdout"' if stream == STDOUT else b'"stderr"')
                self.partial[stream] = b""

    # --- attach clients ------------------------------------------------------------------
    def accept(self, listener):
        try:
            sock = accept(listener)
        except OSError:
            return None
        sock.settimeout(5)
        header = b""
        try:
            # peek, then take exactly the header line: frames behind it stay in the socket
            while not header.endswith(b"\n") and len(header) < 4096:
                peek = sock.recv(4096, _c("_socket").MSG_PEEK)
                if not peek:
                    break
                end = peek.find(b"\n")
                header += sock.recv(end + 1 if end >= 0 else len(peek))
            want = loads(header or b"{}")
        except (OSError, ValueError):
            sock.close()
            return None
        return self.add_client(sock, want)

    def add_client(self, sock, want):
        sock.settimeout(5)
        client = Client(sock, want)
        self.clients.append(client)
        if want.get("rows"):
            self.cfg["rows"], self.cfg["cols"] = want.get("rows"), want.get("cols")
            self.resize(want.get("rows"), want.get("cols"))
        if self.exit_code is not None and not self.will_restart():
            client.send(EXIT, str(self.exit_code).encode())
        return client

    def drop(self, client):
        if client in self.clients:
            self.clients.remove(client)
        try:
            client.sock.close()
        except OSError:
            pass

    def from_client(self, client):
        try:
            data = client.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.drop(client)
            return
        client.buf += data
        while len(client.buf) >= FRAME.size:
            kind, size = FRAME.unpack(client.buf[: FRAME.size])
            if len(client.buf) < FRAME.size + size:
                break
            payload = client.buf[FRAME.size : FRAME.size + size]
            client.buf = client.buf[FRAME.size + size :]
            self.client_frame(kind, payload)

    def client_frame(self, kind, payload):
        if kind == STDIN and self.stdin_fd >= 0:
            try:
                posix.write(self.stdin_fd, payload)
            except OSError:
                pass
        elif kind == STDIN_CLOSE and not self.cfg["tty"] and self.cfg.get("stdin_once"):
            if self.stdin_fd >= 0:
                posix.close(self.stdin_fd)
                self.stdin_fd = -1
        elif kind == RESIZE:
            parts = payload.split()
            if len(parts) == 2:
                self.resize(int(parts[0]), int(parts[1]))

    # --- exit and restart ----------------------------------------------------------------
    def reap(self):
        while True:
            try:
                pid, status = posix.waitpid(-1, posix.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.pid and self.exit_code is None:
                self.exit_code = posix.waitstatus_to_exitcode(status)
                if self.exit_code < 0:
                    self.exit_code = 128 - self.exit_code
                self.exit_time = time.monotonic()

    def will_restart(self):
        if self.cfg.get("autoremove"):  # --rm: docker allows no restart policy, nor an update
            return False
        policy = self.restart_policy()
        name = policy.get("Name") or "no"
        if name == "no" or exists(join(self.dir, "stopped")):
            return False
        if name == "on-failure":
            limit = int(policy.get("MaximumRetryCount") or 0)
            return self.exit_code != 0 and (limit == 0 or self.state["RestartCount"] < limit)
        return name in ("always", "unless-stopped")

    def restart_policy(self):
        """The record's policy (`tke update --restart` changes it while the container runs),
        else the one the shim was started with."""
        try:
            with open(join(self.dir, "container.json")) as fh:
                policy = loads(fh.read())["HostConfig"]["RestartPolicy"]
            if isinstance(policy, dict):
                return policy
        except (OSError, ValueError, KeyError, TypeError, StopIteration):
            pass
        return self.cfg.get("restart") or {}

    def close_outputs(self):
        for fd in list(self.outputs):
            try:
                posix.close(fd)
            except OSError:
                pass
        self.outputs.clear()
        if self.stdin_fd >= 0 and not self.cfg["tty"]:
            try:
                posix.close(self.stdin_fd)
            except OSError:
                pass
        self.stdin_fd = -1

    def runtime(self, *args):
        devnull = posix.open(DEVNULL, posix.O_RDWR)
        pid = spawn(list(args), devnull, devnull, devnull)
        posix.close(devnull)
        return wait_pid(pid)

    def finish(self):
        """The container exited and its output is drained: restart or wind down."""
        self.flush_partial()
        self.close_outputs()
        ran = time.monotonic() - self.started_mono
        # decided before the state says "exited": `tke stop` returns on that state, and a
        # caller may then remove CTRDIR/stopped (`system service --stop` does)
        restart = self.will_restart()
        exited = {"Status": "exited", "ExitCode": self.exit_code, "FinishedAt": now(), "Pid": 0}
        if not restart and any(c.want.get("claim_rm") for c in self.clients):
            return self.hand_over_removal(exited)
        self.save(**exited)
        if restart:
            self.runtime(*(self.cfg["runtime"] + ["delete", "--force", self.id]))
            delay = 0.1 if ran >= 10 else min(0.1 * 2 ** self.state["RestartCount"], 60)
            self.save(Status="restarting", RestartCount=self.state["RestartCount"] + 1)
            time.sleep(delay)
            if not exists(join(self.dir, "stopped")):
                try:
                    self.start_container()
                    return True
                except (OSError, RuntimeError) as exc:
                    self.save(Status="exited", Error=str(exc))
            else:
                self.save(Status="exited")
        self.send_exit()
        self.release_network()
        self.delete_container()
        self.runtime("umount", self.cfg["merged"])
        if self.cfg.get("autoremove") and self.cfg.get("cleanup"):
            if self.log is not None:
                self.log.close()
            posix.closerange(3, 65536)
            try:
                execvp(self.cfg["cleanup"])
            except OSError:
                pass
        return False

    def send_exit(self):
        for client in list(self.clients):
            client.send(EXIT, str(self.exit_code).encode())
            self.drop(client)

    def hand_over_removal(self, exited):
        """An attached `tke run --rm` claimed the removal: its exit frame first (it removes the
        container at once and does not wait for the rest), then the state (for a client that
        died before it removed anything; gone with the directory otherwise), the runtime's
        delete and the moved directory. With `rm_paths` (a container without network or
        volumes) the container disappears here, before the frame: the client has nothing left
        to do but exit."""
        if self.cfg.get("rm_paths") and self.cfg.get("tmp_dir"):
            remove_claimed(self.cfg["rm_paths"], self.id, self.trash_path())
        self.send_exit()
        self.release_network()
        try:
            self.save(**exited)
        except OSError:
            pass  # the directory was moved to the trash already
        self.delete_container()
        self.take_out_trash()
        return False

    def release_network(self):
        if self.cfg.get("network"):
            release_network(self.cfg["network"], self.id)

    def delete_container(self):
        """The runtime's `delete` of the exited container: done here when it only has to
        remove the container's cgroups and state directory (a `crun delete` process costs
        ~10 ms of CPU, on a machine where the next container may be starting), by the runtime
        itself otherwise."""
        if not delete_stopped(self.cfg.get("runtime_state"), self.cfg.get("cgroup")):
            self.runtime(*(self.cfg["runtime"] + ["delete", "--force", self.id]))

    def trash_path(self):
        """STORE/tmp/trash-PID-ID: a removed container's directory, for this shim to delete
        (containers.trash_for_shim names it alike)."""
        return join(self.cfg["tmp_dir"], f"trash-{posix.getpid()}-{self.id[:12]}")

    def take_out_trash(self):
        """Delete the directory the attached `tke run --rm` moved to tmp/trash-PID-ID (PID:
        this shim's) rather than it starting an `rm`. It may still be unmounting the rootfs:
        wait for the rename (2 s at most; a leftover is the store's stale-tmp cleanup's)."""
        tmp_dir = self.cfg.get("tmp_dir")
        if not tmp_dir:
            return
        if self.log is not None:
            self.log.close()
            self.log = None
        deadline = time.monotonic() + 2
        while lexists(self.dir) and time.monotonic() < deadline:
            time.sleep(0.002)
        remove_tree(self.trash_path())

    # --- main loop -----------------------------------------------------------------------
    def serve(self, wake_r):
        listener = self.listener
        drain_deadline = None
        while True:
            fds = [listener, wake_r] + list(self.outputs) + [c.sock for c in self.clients]
            timeout = None
            if self.exit_code is not None:
                drain_deadline = drain_deadline or time.monotonic() + 0.5
                timeout = max(0.0, drain_deadline - time.monotonic())
                if not self.outputs or timeout == 0.0:
                    drain_deadline = None
                    if not self.finish():
                        return
                    continue
            try:
                ready, _, _ = select.select(fds, [], [], timeout)
            except InterruptedError:
                continue
            for obj in ready:
                if obj is wake_r:
                    read_available(wake_r)
                    self.reap()
                elif obj is listener:
                    self.accept(listener)
                elif isinstance(obj, int):
                    self.read_output(obj)
                else:
                    for client in list(self.clients):
                        if client.sock is obj:
                            self.from_client(client)

    def read_output(self, fd):
        try:
            data = posix.read(fd, 65536)
        except OSError as exc:
            data = b"" if exc.errno in (errno.EIO, errno.EBADF) else None
            if data is None:
                return
        if not data:
            self.outputs.pop(fd, None)
            posix.close(fd)
            if fd == self.stdin_fd:
                self.stdin_fd = -1
            return
        self.output(self.outputs[fd], data)


CGROUP_ROOT = "/sys/fs/cgroup"


def delete_stopped(state_dir, cgroup):
    """What `crun|runc delete --force` does for a container whose processes are all gone (its
    init was reaped; the kernel kills the rest of its pid namespace): remove its cgroup in
    every hierarchy, then its state directory. False, with the state left for the runtime's
    own delete, when a cgroup cannot be removed (processes still in it) or anything is odd."""
    if not state_dir or not cgroup or not cgroup.startswith("/tke/"):
        return False
    try:
        if exists(join(CGROUP_ROOT, "cgroup.controllers")):
            roots = [CGROUP_ROOT]  # cgroup v2: one hierarchy
        else:
            roots = [join(CGROUP_ROOT, n) for n in posix.listdir(CGROUP_ROOT)]
    except OSError:
        return False
    for root in roots:
        try:
            posix.rmdir(root + cgroup)
        except (FileNotFoundError, NotADirectoryError):
            continue  # not in this hierarchy, or removed through its other name (cpu,cpuacct)
        except OSError:
            return False
    remove_tree(state_dir)
    return not lexists(state_dir)


def remove_claimed(paths, cid, trash):
    """What `tke rm` does for a stopped container without network or volumes, done by its
    shim for a foreground `run --rm` (lifecycle.removal_paths): under the containers' lock,
    unmount the rootfs, drop the attach sockets, move the directory to the shim's trash (it
    deletes it later: take_out_trash) and release the name. Anything odd leaves the rest to
    the client, which removes a container whose directory is still there."""
    import fcntl  # built in

    try:
        fd = posix.open(paths["lock"], posix.O_RDWR | posix.O_CREAT | posix.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        while libc("umount2", paths["merged"].encode(), 2) == 0:  # MNT_DETACH, stacked too
            pass
        if is_mount_point(paths["merged"]):
            return
        for sock in paths["sockets"]:
            try:
                posix.unlink(sock)
            except OSError:
                pass
        posix.rename(paths["dir"], trash)
        try:
            if posix.readlink(paths["name_link"]) == cid:
                posix.unlink(paths["name_link"])
        except OSError:
            pass
    except OSError:
        pass
    finally:
        posix.close(fd)


class RootfsError(RuntimeError):
    """The rootfs the shim was to mount could not be (mount_rootfs)."""


def receive(fd, early=None):
    """tke's instructions from `fd` (see the module's docstring) and the OSError of the rootfs's
    mount if one was asked for and failed; then fd points at /dev/null. EOFError if tke gave
    up first (the rootfs mounted here is unmounted again). `early`: the runtime started
    before them, shown the mount at once (runtimeproc.Early.graft)."""
    message, mounted, error = read_message(fd), None, None
    if message is not None and set(message) == {"mount"}:
        try:
            mount_rootfs(message["mount"])
            mounted = message["mount"]["target"]
        except OSError as exc:
            error = exc
        if mounted is not None and early is not None:
            early.graft(mounted)  # or again when it is fed (and cancelled if that fails)
        message = None
        try:
            message = read_message(fd)
        finally:
            if message is None and mounted is not None:  # no instructions after all
                libc("umount2", mounted.encode(), 2)  # MNT_DETACH
    null = posix.open(DEVNULL, posix.O_RDWR)
    posix.dup2(null, fd)
    posix.close(null)
    if message is None:
        raise EOFError("no instructions")
    return message, error


def read_message(fd):
    """One message (a 4-byte length, then a marshalled dict), or None at EOF."""
    head = read_exactly(fd, 4)
    data = read_exactly(fd, int.from_bytes(head, "big")) if len(head) == 4 else b""
    return marshal.loads(data) if data else None


def read_exactly(fd, size):
    """`size` bytes from `fd` (fewer at EOF)."""
    chunks, left = [], size
    while left > 0:
        data = posix.read(fd, left)
        if not data:
            break
        chunks.append(data)
        left -= len(data)
    return b"".join(chunks)


def mount_rootfs(request):
    """The container's overlay (rootfs.ShimMount's request): `volatile` (no sync of the upper
    dir at unmount) where the kernel has it (5.10)."""
    target, options = request["target"].encode(), request["options"].encode()
    if request["volatile"]:
        try:
            mount(b"overlay", target, b"overlay", 0, options + b",volatile")
            return
        except OSError:
            pass
    mount(b"overlay", target, b"overlay", 0, options)


def is_mount_point(path):
    """Something mounted at `path` (another device than its parent's), as os.path.ismount."""
    try:
        return posix.lstat(path).st_dev != posix.lstat(path + "/..").st_dev
    except OSError:
        return False


def remove_tree(path):
    """rm -rf (root: modes do not stop it); what cannot be deleted stays."""
    try:
        entries = list(posix.scandir(path))
    except NotADirectoryError:
        entries = None
    except OSError:
        return
    if entries is None:
        try:
            posix.unlink(path)
        except OSError:
            pass
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                remove_tree(entry.path)
            else:
                posix.unlink(entry.path)
        except OSError:
            pass
    try:
        posix.rmdir(path)
    except OSError:
        pass


# bpfopt.py, in a process of its own at the lowest priority (reap() collects it)
OPTIMIZE_BPF = (
    "import sys; sys.path.insert(0, sys.argv[1]); import os; os.nice(19); import bpfopt; "
    "sys.exit(bpfopt.main(sys.argv[2:]))"
)


def keep_bpf(paths):
    """Copy the runtime's compiled seccomp program into tke's cache (atomically; a whole
    number of 8-byte instructions or nothing), then have bpfopt.py make it compact there;
    unless another container's shim has done that already."""
    if not paths:
        return
    try:
        kept = posix.stat(paths["to"]).st_size
    except OSError:
        kept = 0
    if kept and kept % 8 == 0:
        return
    try:
        with open(paths["from"], "rb") as fh:
            data = fh.read()
        if not data or len(data) % 8:
            return
        try:
            posix.mkdir(paths["to"].rpartition("/")[0], 0o700)
        except FileExistsError:
            pass
        tmp = f"{paths['to']}.tmp-{posix.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        posix.replace(tmp, paths["to"])
        argv = [sys.executable, "-I", "-S", "-c", OPTIMIZE_BPF, __file__.rpartition("/")[0]]
        null = posix.open(DEVNULL, posix.O_RDWR)
        spawn(argv + [paths["to"], paths["to"]], null, null, null)
        posix.close(null)
    except OSError:
        pass


PROCESS_NAME = b"tke-shim"  # its comm (containers.shim_alive): a forked shim's cmdline is tke's


def name_process():
    try:
        fd = posix.open("/proc/self/comm", posix.O_WRONLY)
        try:
            posix.write(fd, PROCESS_NAME)
        finally:
            posix.close(fd)
    except OSError:
        pass


def listen(path):
    try:
        posix.unlink(path)
    except FileNotFoundError:
        pass
    sock = unix_socket()
    sock.bind(path)
    sock.listen(32)
    return sock


def boot(argv, early_id, cache):
    """The shim as shimproc starts it (SHIM_BOOT, fork_shim): `argv` main's; with the
    container's ID, its runtime is started at once from the store's record `cache`."""
    store_root = argv[0].rpartition("/")[0]
    early = start_early(store_root, early_id, cache) if early_id else None
    return main(argv, early)


def main(argv=None, early=None):
    argv = sys.argv[1:] if argv is None else argv
    # argv[0]: the store's containers dir, for ps readers only
    status_fd, attach_fd = int(argv[1]), int(argv[2])
    name_process()
    for sig in (_signal.SIGHUP, _signal.SIGINT, _signal.SIGTERM, _signal.SIGPIPE):
        _signal.signal(sig, _signal.SIG_IGN)
    become_subreaper()
    try:
        cfg, rootfs_error = receive(0, early)  # may wait while tke creates the container
        shim = Shim(cfg, status_fd, attach_fd, early, rootfs_error)
    except (OSError, EOFError, TypeError, ValueError, KeyError, AttributeError):
        if early is not None:
            early.cancel()
        return 1  # no instructions: tke gave up
    posix.chdir(shim.dir)
    wake_r, wake_w = posix.pipe()
    posix.set_blocking(wake_w, False)
    _signal.signal(_signal.SIGCHLD, lambda *_: None)
    _signal.set_wakeup_fd(wake_w)
    try:
        shim.start_container()
    except (OSError, RuntimeError) as exc:
        if shim.log is None:
            try:
                shim.settle_in()
            except OSError:
                pass
        host = isinstance(exc, RootfsError)  # not the command's failure: docker's 125
        code = 125 if host else shim.cfg.get("fail_code", 127)
        shim.save(Status="exited", ExitCode=code, Error=str(exc))
        shim.status(error=str(exc), **({"code": 125} if host else {}))
        shim.runtime(*(shim.cfg["runtime"] + ["delete", "--force", shim.id]))
        return 1
    shim.status(started=shim.pid)
    posix.close(status_fd)
    shim.status_fd = -1
    if shim.early_done is not None:
        shim.early_done.forget(shim.early_done.pidfile)
    keep_bpf(shim.cfg.get("bpf_cache"))
    shim.reap()
    shim.serve(wake_r)
    shim.listener.close()
    try:
        posix.unlink(shim.cfg["sock"])
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
