"""The keeper: keeps agents alive between `tk` runs (tk's ControlPersist), one per user and env.

`python -m toolkit.transport.keeper` detaches and serves a unix socket (keeperpath.py: private
dir 0700, socket 0600, peers of another uid refused). A controller (kept.py) sends one JSON
line and gets one back:
- {"op": "attach", "host", "vars"}: an idle agent opened with the same connection variables is
  taken (checked with a ping) or a new `SSHConnection` is opened; the reply is {"ok": true,
  "hello", "magic", "utils_digest"} or {"ok": false, "error": {"class", "message", "hint"}}.
  Then bytes are spliced both ways between the socket and the agent's channel; frames are
  counted from their headers. When the controller hangs up with every request answered, the
  agent goes back to the idle pool; with one outstanding (Ctrl-C, a crash) it is closed.
  When the agent dies, a death notice (DEATH + one JSON line) follows its last whole frame.
- {"op": "status"}: {"ok": true, "pid", "agents": [{host, user, become, pid, idle}]}.
- {"op": "stop"}: closes every agent and exits.
Idle agents are closed after $TK_SSH_PERSIST seconds (default 60); the keeper exits when it
has had nothing to do for that long.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import select
import socket
import struct
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Set

from toolkit.errors import HostUnreachable, TkError
from toolkit.transport import keeperpath

DEATH = b"\xff\xff\xff\xff"  # never a frame header: bodies are JSON, far shorter than 4 GiB
PING_TIMEOUT = 5.0
MODULE_OP = b'"op":"run_module"'  # rpc.encode writes id, then op, first
MAX_KEPT = 8 << 20  # run_module requests longer than this are not looked into
BOUND: Dict[str, int] = {}  # socket path -> inode of the file this keeper bound
REQUEST_TIMEOUT = 10.0


class Counter:
    """Counts whole frames (4-byte length + body) in a byte stream fed in pieces; with
    `on_module`, hands it the body of every run_module request (the others are not kept)."""

    def __init__(self, on_module: Optional[Callable[[bytes], None]] = None) -> None:
        self.frames = 0
        self.head = b""
        self.left = 0  # body bytes still to come
        self.on_module = on_module
        self.body: Optional[bytearray] = None  # the body being kept, if any

    @property
    def boundary(self) -> bool:
        return not self.head and not self.left

    def feed(self, data: bytes) -> None:
        i, n = 0, len(data)
        while i < n:
            if self.left:
                take = min(self.left, n - i)
                if self.body is not None:
                    self.body += data[i : i + take]
                self.left -= take
                i += take
                if not self.left:
                    self._frame_done()
                continue
            take = min(4 - len(self.head), n - i)
            self.head += data[i : i + take]
            i += take
            if len(self.head) == 4:
                (self.left,) = struct.unpack(">I", self.head)
                self.head = b""
                self.body = bytearray() if self.on_module and self.left < MAX_KEPT else None
                if not self.left:
                    self._frame_done()

    def _frame_done(self) -> None:
        self.frames += 1
        body, self.body = self.body, None
        if body is not None and MODULE_OP in body[:48]:
            self.on_module(bytes(body))


class Kept:
    """One agent the keeper holds: its connection, and since when it is idle."""

    def __init__(self, key: str, conn: Any, become: str) -> None:
        self.key = key
        self.conn = conn
        self.become = become
        self.idle_since = time.monotonic()
        self.digests: Set[str] = set()  # modules whose code the agent was sent

    def note_module(self, body: bytes) -> None:
        """A run_module request went to the agent: with code, the agent keeps it compiled."""
        try:
            request = json.loads(body)
        except ValueError:
            return
        if "source" in request and isinstance(request.get("digest"), str):
            self.digests.add(request["digest"])

    def describe(self) -> Dict[str, Any]:
        target = self.conn.target
        return {
            "host": self.conn.host,
            "user": target.user,
            "address": f"{target.hostname}:{target.port}",
            "become": self.become,
            "pid": self.conn.client.hello.get("pid"),
            "idle": round(time.monotonic() - self.idle_since, 1),
            "modules": len(self.digests),
        }

    def close(self) -> None:
        """Hang up on the agent (it sees its input close and exits); no goodbye frame."""
        client = self.conn.client
        if client is not None:
            client.dead = client.dead or "closed by the keeper"
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - a dead channel must not stop the keeper
            pass


def connection_key(host: str, variables: Dict[str, Any]) -> str:
    """Agents are shared only between attaches with the very same connection variables
    (they include become user and method) and the same ssh config file."""
    text = json.dumps([host, variables], sort_keys=True, default=str)
    config = variables.get("ansible_ssh_config_file") or variables.get("tk_ssh_config")
    config = config or os.environ.get("TK_SSH_CONFIG") or os.path.expanduser("~/.ssh/config")
    try:
        info = os.stat(str(config))
        text += f"\0{config}\0{info.st_size}\0{info.st_mtime_ns}"
    except OSError:
        text += f"\0{config}\0-"
    return hashlib.sha256(text.encode()).hexdigest()


class Keeper:
    """The pool of idle agents and the sessions using the others."""

    def __init__(self, listener: socket.socket, path: str, persist: float) -> None:
        self.listener = listener
        self.path = path
        self.persist = persist
        self.idle: Dict[str, List[Kept]] = {}
        self.busy = 0  # sessions (attached or being answered)
        self.last_activity = time.monotonic()
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    # -- the pool -------------------------------------------------------------------------
    def _take(self, key: str) -> Optional[Kept]:
        with self.lock:
            pool = self.idle.get(key)
            kept = pool.pop() if pool else None
            if pool is not None and not pool:
                del self.idle[key]
            return kept

    def _give_back(self, kept: Kept) -> None:
        kept.idle_since = time.monotonic()
        with self.lock:
            if not self.stopping.is_set():
                self.idle.setdefault(kept.key, []).append(kept)
                return
        kept.close()

    def _alive(self, kept: Kept) -> bool:
        conn = kept.conn
        if conn.client is None or conn.client.dead or conn.ssh is None or not conn.ssh.active:
            return False
        chan = conn.stream.chan
        chan.settimeout(min(PING_TIMEOUT, conn.target.connect_timeout))
        try:
            conn.client.request("ping")
            chan.settimeout(None)
            return True
        except (TkError, OSError):
            if not chan.closed:  # no answer on an open channel: the host is unreachable
                conn.ssh.kill("no answer from the host")  # its next agent connects anew
            return False

    def _open(self, host: str, variables: Dict[str, Any], key: str) -> Kept:
        from toolkit.transport.ssh import SSHConnection

        conn = SSHConnection.from_vars(host, variables)
        shared = _shared_client(conn)
        try:
            try:
                conn.open()
            except HostUnreachable as exc:
                if shared is None or "cannot run a command" not in exc.message:
                    raise
                # the SSH connection kept for the host's other agents has gone bad while
                # idle (host down, link down): connect anew, as a fresh run would
                shared.kill("no answer from the host")
                conn = SSHConnection.from_vars(host, variables)
                conn.open()
        except OSError as exc:
            raise HostUnreachable(f"cannot connect to {host}: {exc}") from None
        kept = Kept(key, conn, str(variables.get("ansible_become_user") or ""))
        if conn.become is None:
            kept.become = ""
        try:
            for rid in list(conn.client.pending):  # the pipelined utils answer
                conn.client.receive(rid)
        except BaseException:
            kept.close()
            raise
        conn.stream.chan.settimeout(None)
        return kept

    def attach(self, host: str, variables: Dict[str, Any]) -> Kept:
        key = connection_key(host, variables)
        while True:
            kept = self._take(key)
            if kept is None:
                return self._open(host, variables, key)
            if self._alive(kept):
                return kept
            kept.close()

    # -- sessions -------------------------------------------------------------------------
    def serve_client(self, sock: socket.socket) -> None:
        try:
            if keeperpath.peer_uid(sock) != os.getuid():
                return
            sock.settimeout(REQUEST_TIMEOUT)
            request = json.loads(keeperpath.read_line(sock))
            op = request.get("op")
            if op == "attach":
                self._session(sock, str(request["host"]), dict(request.get("vars") or {}))
            elif op == "status":
                _send_line(sock, {"ok": True, "pid": os.getpid(), "agents": self.status()})
            elif op == "stop":
                _send_line(sock, {"ok": True, "pid": os.getpid()})
                self.stop()
        except (OSError, ValueError, KeyError):
            pass
        finally:
            sock.close()
            with self.lock:
                self.busy -= 1
                self.last_activity = time.monotonic()

    def _session(self, sock: socket.socket, host: str, variables: Dict[str, Any]) -> None:
        try:
            kept = self.attach(host, variables)
        except TkError as exc:
            error = {"class": type(exc).__name__, "message": exc.message, "hint": exc.hint}
            _send_line(sock, {"ok": False, "error": error})
            return
        except Exception as exc:  # noqa: BLE001 - the controller says what went wrong
            error = {"class": "HostUnreachable", "message": f"{host}: keeper: {exc!r}"}
            _send_line(sock, {"ok": False, "error": error})
            return
        client = kept.conn.client
        reply = {"ok": True, "hello": client.hello, "magic": client.magic,
                 "utils_digest": client.utils_digest, "digests": sorted(kept.digests)}  # fmt: skip
        try:
            sock.settimeout(None)
            _send_line(sock, reply)
            reusable = splice(sock, kept)
        except OSError:
            reusable = False
        except Exception:  # noqa: BLE001 - a bug here must not leak the agent or the keeper
            traceback.print_exc()
            reusable = False
        if reusable and not self.stopping.is_set():
            self._give_back(kept)
        else:
            kept.close()

    def status(self) -> List[Dict[str, Any]]:
        with self.lock:
            kept = [k for pool in self.idle.values() for k in pool]
        return [k.describe() for k in kept]

    # -- lifecycle ------------------------------------------------------------------------
    def run(self) -> None:
        threading.Thread(target=self._reaper, name="tk-keeper-reaper", daemon=True).start()
        threading.Thread(target=_preload, name="tk-keeper-preload", daemon=True).start()
        self.listener.settimeout(1.0)
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            sock.settimeout(None)
            with self.lock:
                self.busy += 1
                self.last_activity = time.monotonic()
            threading.Thread(target=self.serve_client, args=(sock,), daemon=True).start()
        self.stop()
        while self.busy > 0:  # sessions still attached end with their controllers
            time.sleep(0.1)

    def _reaper(self) -> None:
        while not self.stopping.wait(min(1.0, max(self.persist / 4, 0.1))):
            now = time.monotonic()
            expired: List[Kept] = []
            with self.lock:
                for key in list(self.idle):
                    keep = [k for k in self.idle[key] if now - k.idle_since < self.persist]
                    expired += [k for k in self.idle[key] if k not in keep]
                    if keep:
                        self.idle[key] = keep
                    else:
                        del self.idle[key]
            for kept in expired:
                kept.close()
            self.stop(only_if_idle=True)

    def _idle_long(self) -> bool:
        """Nothing held, nobody served, for `persist` seconds (called with the lock held)."""
        quiet = not self.busy and not self.idle
        return quiet and time.monotonic() - self.last_activity >= self.persist

    def stop(self, only_if_idle: bool = False) -> None:
        """Stop taking sessions (the socket goes first: a new controller spawns a new
        keeper), close every idle agent; running sessions end with their controllers."""
        with self.lock:
            if self.stopping.is_set() or (only_if_idle and not self._idle_long()):
                return
            self.stopping.set()
            kept = [k for pool in self.idle.values() for k in pool]
            self.idle.clear()
        _unlink_if_ours(self.path)
        _unlink_pidfile(self.path[: -len(".sock")] + ".pid")
        try:
            self.listener.close()
        except OSError:
            pass
        for k in kept:
            k.close()


def splice(sock: socket.socket, kept: Kept) -> bool:
    """Relay bytes between the controller's socket and the agent's channel until one side
    hangs up. True when the agent can be reused: the controller left with every request
    answered, on frame boundaries both ways."""
    conn = kept.conn
    chan = conn.stream.chan
    to_agent, to_ctl = Counter(kept.note_module), Counter()
    leftover = bytes(conn.stream.buffer)
    conn.stream.buffer.clear()
    if leftover:  # read past the last answer while opening: cannot happen, but pass it on
        to_ctl.feed(leftover)
        sock.sendall(leftover)
    while True:
        readable, _, _ = select.select([sock, chan], [], [])
        if chan in readable:
            data = chan.recv(262144)
            if not data:
                _tell_death(sock, conn, to_ctl)
                return False
            to_ctl.feed(data)
            sock.sendall(data)
        if sock in readable:
            try:
                data = sock.recv(262144)
            except ConnectionError:
                data = b""
            if not data:
                return to_agent.boundary and to_ctl.boundary and to_agent.frames == to_ctl.frames
            to_agent.feed(data)
            chan.sendall(data)


def _tell_death(sock: socket.socket, conn: Any, to_ctl: Counter) -> None:
    """The agent's channel closed: say why (the controller's message names it), then hang
    up. Only between frames: mid-frame the controller sees the stream end."""
    if not to_ctl.boundary:
        return
    conn.client.dead = conn.client.dead or "end of stream"
    chan, deadline = conn.stream.chan, time.monotonic() + 1.0
    while not chan.exit_status_ready() and time.monotonic() < deadline:
        time.sleep(0.01)  # sshd sends the exit status (or closes) right after the EOF
    detail = conn._death_detail()
    try:
        sock.sendall(DEATH + json.dumps({"detail": detail}).encode() + b"\n")
    except OSError:
        pass


def _shared_client(conn: Any) -> Any:
    """The SSH client an agent about to open would share with kept agents, if any."""
    from toolkit.transport.ssh import CLIENTS

    key = conn.target.cache_key() + (conn.checker.mode, conn.checker.path)
    with CLIENTS._lock:
        client = CLIENTS._clients.get(key)
    return client if client is not None and client.active else None


def _preload() -> None:
    """What every first attach needs, made while the controller is still starting: paramiko,
    then the agent's payload and the compiled utils bundle (~40 ms of compiling and zlib that
    were on the first connection's path, after its SSH handshake)."""
    import toolkit.transport.ssh  # noqa: F401
    from toolkit import modindex
    from toolkit.transport import bootstrap, precompiled

    bootstrap.payload(precompiled.MAGIC_HEX)
    precompiled.utils_blob(modindex.utils_bundle()[1])
    bootstrap.payload(None)  # for hosts whose Python is not ours


def _send_line(sock: socket.socket, obj: Dict[str, Any]) -> None:
    sock.sendall(json.dumps(obj, default=str).encode() + b"\n")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _unlink_pidfile(path: str) -> None:
    """Remove the pidfile if it names this process (the lock on it ends with the process)."""
    try:
        with open(path) as fh:
            if fh.read().strip() == str(os.getpid()):
                os.unlink(path)
    except OSError:
        pass


def _unlink_if_ours(path: str) -> None:
    """Remove the socket file unless another keeper has replaced it already."""
    try:
        if os.stat(path).st_ino == BOUND.get(path):
            os.unlink(path)
    except OSError:
        pass


# -- starting -------------------------------------------------------------------------------
def bind(path: str) -> socket.socket:
    """Listen on `path` (0600): a stale socket left by a dead keeper is replaced."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        try:
            listener.bind(path)
        except OSError:
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(path)
            except OSError:
                _unlink(path)  # nobody listens: stale
                listener.bind(path)
            else:
                probe.close()
                listener.close()
                raise
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    BOUND[path] = os.stat(path).st_ino
    listener.listen(128)
    return listener


def daemonize(log_path: str) -> None:
    """Fork twice: the keeper belongs to no terminal session and nobody waits for it. It
    stays in the controller's directory (part of its socket's name): relative key files,
    ssh config paths and ProxyCommands resolve as they would in the controller."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(devnull)
    os.close(log)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = str(keeperpath.socket_path())
    base = path[: -len(".sock")]
    persist = keeperpath.persist_seconds()
    if "--foreground" not in argv:
        daemonize(base + ".log")
    pidfile = _claim(base + ".pid")
    if pidfile is None:
        return 0  # another keeper of this environment runs (two were started at once)
    try:
        listener = bind(path)
    except OSError as exc:
        print(f"tk keeper: cannot listen on {path}: {exc}", file=sys.stderr)
        return 1
    Keeper(listener, path, persist).run()
    pidfile.close()
    return 0


def _claim(path: str) -> Optional[Any]:
    """The pidfile, locked for this keeper's life, with its pid; None if another holds it."""
    fh = open(path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    fh.truncate(0)
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


if __name__ == "__main__":
    sys.exit(main())
