"""Run one module in the agent: in a forked child (default) or in-process (IN_PROCESS modules).

A forked child applies `env`/`cwd`, runs the module and sends its JSON result back through a
pipe (length-prefixed). A crash, a signal, `os._exit` or a timeout in the child fails only that
task; the agent lives on. When the controller's stream hangs up while a child runs (Ctrl-C, the
connection cut), the child's process group is killed and `Hangup` ends the agent. To keep
fork() off the critical path, the agent forks a *spare* child after answering a request; the
spare waits on a pipe for the next module run. A module that declares `PRELOAD = [names]`
(e.g. dnf) runs in a child of a *zygote* when there is one: the controller names what the rest
of its play preloads, and the agent forks a zygote that imports those names while other tasks
run (in a child, never in a thread of the agent: fork and import locks do not mix), then forks
one child per run of such a module for as long as the agent lives. Stdlib, 3.6+.
"""

import binascii
import errno
import gc
import json
import marshal
import os
import re
import select
import signal
import struct
import sys
import time
import types
import zlib


def format_exc():
    """The current exception's traceback as text (traceback is imported only on errors: it
    costs the agent's start-up ~5 ms, and most runs never need it)."""
    import traceback

    return traceback.format_exc()


LEARNED = "_tk_learned_imports"  # child -> agent only: never reaches the controller
_IN_PROCESS = re.compile(r"^IN_PROCESS\s*=\s*True\b", re.M)
_PRELOAD = re.compile(r"^PRELOAD\s*=\s*[\[(]([^\])]*)[\])]", re.M)
_QUOTED = re.compile(r"[\"']([\w.]+)[\"']")
# a top-level (column 0) `import a, b.c as d` or `from pkg import (x, y)`: no ast import (~6 ms
# of the agent's start-up on a host) and no parse of every module's source
_IMPORT = re.compile(r"^(?:from[ \t]+([\w.]+)[ \t]+)?import[ \t]+(\([^)]*\)|[^\n#;]*)", re.M)
_COMMENT = re.compile(r"#[^\n]*")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def top_level_imports(source):
    """Names a module imports at its top level, in order (`from p import s` gives p and p.s:
    s may be a submodule). Relative imports are left out."""
    names = []
    for module, listed in _IMPORT.findall(source):
        if module.startswith("."):
            continue
        listed = _COMMENT.sub("", listed).strip("()")
        parts = [p.strip().split()[0] for p in listed.split(",") if p.strip()]
        parts = [p for p in parts if _DOTTED.match(p)]
        if module:
            names.append(module)
            names.extend("%s.%s" % (module, p) for p in parts)
        else:
            names.extend(parts)
    return names


def preload_names(source):
    """The names a module's `PRELOAD = [...]` line lists (what a zygote imports for it)."""
    found = _PRELOAD.search(source)
    return tuple(sorted(set(_QUOTED.findall(found.group(1))))) if found else ()


def module_filename(name):
    """The file name a module's code is compiled with (what tracebacks show)."""
    return "<tk:modules/%s.py>" % name


def unmarshal(text):
    """Code (or a dict of code) that the controller compiled: base64(zlib(marshal data))."""
    return marshal.loads(zlib.decompress(binascii.a2b_base64(text)))


class CompiledModule(object):
    """A module's code object, compiled once per source digest."""

    def __init__(self, name, source, compiled=None):
        self.name = name
        self.source = source
        if compiled:  # marshalled by a controller whose interpreter has our magic number
            self.code = unmarshal(compiled)
        else:
            self.code = compile(source, module_filename(name), "exec")
        self.in_process = bool(_IN_PROCESS.search(source))
        self.preload = preload_names(source)
        self.learned = None  # what a run imported lazily (e.g. dbus): warmed on the next use
        self.learned_warm = False

    def learn(self, names):
        """Record the modules a forked run imported (the first report is kept)."""
        if self.learned is None and isinstance(names, list):
            self.learned = [n for n in names if isinstance(n, str)]

    def warm_learned(self):
        """On the second use, import here what the first run imported lazily, so that this
        and later children inherit it (a module used once pays nothing more). True when
        something new was imported (a spare forked before it lacks it)."""
        if self.learned_warm or not self.learned:
            return False
        self.learned_warm = True
        before = len(sys.modules)
        _import_all(self.learned)
        return len(sys.modules) != before

    def warm_imports(self):
        """Import what the module imports at its top level, here in the agent, so forked
        children find it in sys.modules instead of importing it again on every run."""
        _import_all(top_level_imports(self.source))


def _import_all(names):
    for name in names:
        if name in sys.modules:
            continue
        try:
            __import__(name)
        except Exception:  # not a module, or broken: the module's run reports it
            pass


def _execute(compiled, args, check, diff):
    from modules._utils.module import execute

    namespace = types.ModuleType("modules." + compiled.name)
    namespace.__file__ = module_filename(compiled.name)
    exec(compiled.code, namespace.__dict__)
    return execute(namespace, args, check=check, diff=diff, name=compiled.name)


def _failure(name, what, **extra):
    result = {"changed": False, "failed": True, "msg": "module %s %s" % (name, what)}
    result.update(extra)
    return result


def run_in_process(compiled, args, check=False, diff=False):
    """Run the module inside the agent: only for modules marked IN_PROCESS (pure Python, no
    C extensions, no process-wide changes). The working directory and umask are restored
    whatever the module does, so nothing leaks into the next task."""
    cwd, umask = os.getcwd(), os.umask(0o022)
    os.umask(umask)
    try:
        return _execute(compiled, args, check, diff)
    except BaseException as exc:  # SystemExit from a module must not end the agent
        return _failure(
            compiled.name,
            "raised %s: %s" % (type(exc).__name__, exc),
            exception=format_exc(),
        )
    finally:
        os.umask(umask)
        if os.getcwd() != cwd:
            os.chdir(cwd)


# -- pipes ---------------------------------------------------------------------------------
def _write_all(fd, data):
    data = memoryview(data)
    while data:
        data = data[os.write(fd, data) :]


def _read_exact(fd, length):
    buf = b""
    while len(buf) < length:
        chunk = os.read(fd, length - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


class Hangup(BaseException):
    """The controller's stream hung up while a module ran: the run was abandoned (a
    BaseException, so that no op's error handling turns it into an answer)."""


_HUNG = select.POLLHUP | select.POLLERR | select.POLLNVAL


def _read_result(rfd, timeout, watch_fd=None):
    """(body or None, timed_out): read a length-prefixed body until complete, EOF or deadline.
    Raises Hangup when `watch_fd` (the agent's input) hangs up meanwhile."""
    deadline = None if timeout is None else time.monotonic() + float(timeout)
    poller = select.poll()
    poller.register(rfd, select.POLLIN)
    if watch_fd is not None:
        poller.register(watch_fd, 0)  # hang-ups only: a pipelined request stays unread
    buf = b""
    want = None
    while True:
        if want is None and len(buf) >= 4:
            want = 4 + struct.unpack(">I", buf[:4])[0]
        if want is not None and len(buf) >= want:
            return buf[4:want], False
        wait = None if deadline is None else deadline - time.monotonic()
        if wait is not None and wait <= 0:
            return None, True
        try:
            events = poller.poll(None if wait is None else max(1, int(wait * 1000)))
        except (OSError, select.error) as exc:
            if getattr(exc, "errno", None) == errno.EINTR:
                continue
            raise
        if any(fd == watch_fd and mask & _HUNG for fd, mask in events):
            raise Hangup()
        if not any(fd == rfd for fd, _ in events):
            continue
        chunk = os.read(rfd, (want or 4) - len(buf))  # no further: the next frame stays
        if not chunk:
            return None, False
        buf += chunk


# -- the child -----------------------------------------------------------------------------
def _child_setup():
    gc.disable()  # a collection would touch (and copy) every page shared with the agent
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    os.close(devnull)


def _child_run(cache, request):
    """Run one request in this (child) process; return the result dict."""
    name = request["name"]
    try:
        compiled = cache.get(request["digest"])
        if compiled is None:
            compiled = CompiledModule(name, request["source"])
        env, cwd = request.get("env"), request.get("cwd")
        if env:
            os.environ.update(dict((str(k), str(v)) for k, v in env.items()))
        if cwd:
            try:
                os.chdir(cwd)
            except OSError as exc:
                return _failure(name, "cannot chdir to %s: %s" % (cwd, exc.strerror))
        before = set(sys.modules)
        result = _execute(
            compiled, request.get("args") or {}, request.get("check"), request.get("diff")
        )
        if isinstance(result, dict) and not compiled.preload:  # those are the zygote's
            new = [n for n in sys.modules if n not in before and sys.modules[n] is not None]
            result[LEARNED] = [n for n in new if not n.startswith("modules.")]
        return result
    except BaseException as exc:
        return _failure(name, "raised %s: %s" % (type(exc).__name__, exc), exception=format_exc())


def _child_reply(name, result, wfd):
    try:
        from modules._utils.module import result_json

        body = result_json(result).encode("utf-8")
    except BaseException as exc:
        body = json.dumps(_failure(name, "returned an unencodable result: %s" % exc))
        body = body.encode("utf-8")
    try:
        _write_all(wfd, struct.pack(">I", len(body)) + body)
    except BaseException:
        os._exit(1)
    os._exit(0)


def _spare_main(cache, req_r, res_w):
    """A spare child: wait for one request, run it, answer, exit. Never returns."""
    try:
        _child_setup()
        head = _read_exact(req_r, 4)
        if head is None:
            os._exit(0)
        request = json.loads(_read_exact(req_r, struct.unpack(">I", head)[0]).decode("utf-8"))
        result = _child_run(cache, request)
    except BaseException as exc:
        result = _failure("?", "could not start: %s" % exc)
        request = {"name": "?"}
    _child_reply(request["name"], result, res_w)


class _Child(object):
    """A forked child the agent writes requests to and reads answers from, through pipes."""

    def _fork(self, main):
        """Fork; the child runs `main(req_r, res_w)`, which never returns."""
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        sys.stderr.flush()
        freeze = getattr(gc, "freeze", None)  # 3.7+: agent objects stay out of child collections
        if freeze is not None:
            freeze()
        pid = os.fork()
        if pid == 0:
            os.close(req_w)
            os.close(res_r)
            main(req_r, res_w)
        os.close(req_r)
        os.close(res_w)
        self.pid, self.req_w, self.res_r = pid, req_w, res_r

    def close(self):
        for fd in (self.req_w, self.res_r):
            try:
                os.close(fd)
            except OSError:
                pass


class Spare(_Child):
    """A forked child waiting for its request."""

    def __init__(self, cache):
        self.known = frozenset(cache)
        self._fork(lambda req_r, res_w: _spare_main(cache, req_r, res_w))


def _read_request(fd):
    head = _read_exact(fd, 4)
    if head is None:
        return None
    return json.loads(_read_exact(fd, struct.unpack(">I", head)[0]).decode("utf-8"))


def _frame(data):
    return struct.pack(">I", len(data)) + data


def _stamps(names):
    """What identifies the files `names` were imported from (a package upgrade changes it)."""
    found = []
    for name in names:
        path = getattr(sys.modules.get(name), "__file__", None)
        try:
            info = os.stat(path) if path else None
        except OSError:
            info = None
        found.append((name, info and (info.st_ino, info.st_mtime_ns, info.st_size)))
    return found


def _zygote_main(cache, req_r, res_w, preload):
    """The zygote: import `preload`, then per request fork a child that runs it; answer with
    a frame holding the child's pid, then one with its exit status and result. A pid of 0
    says the preloaded files changed on disk since (the play upgraded them): the zygote
    exits rather than mix old imports with new files. Never returns."""
    try:
        _child_setup()
        _import_all(preload)
        stamps = _stamps(preload)
        while True:
            request = _read_request(req_r)
            if request is None:
                os._exit(0)
            if _stamps(preload) != stamps:
                _write_all(res_w, _frame(struct.pack(">i", 0)))
                os._exit(0)
            digest = request.get("digest")
            if request.get("source") and digest not in cache:
                try:
                    cache[digest] = CompiledModule(request["name"], request["source"])
                except BaseException:  # the child fails to compile it again and says why
                    pass
            out_r, out_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(out_r)
                os.setpgid(0, 0)
                _child_reply(request.get("name", "?"), _child_run(cache, request), out_w)
            os.close(out_w)
            _write_all(res_w, _frame(struct.pack(">i", pid)))
            body = b""
            while True:
                chunk = os.read(out_r, 1 << 16)
                if not chunk:
                    break
                body += chunk
            os.close(out_r)
            _write_all(res_w, _frame(struct.pack(">i", _reap(pid)) + body[4:]))
    except BaseException:
        os._exit(1)


class Zygote(_Child):
    """A child that imported a module's PRELOAD names and forks one child per run of such a
    module (that child's result reaches the agent through the zygote, with its exit status)."""

    def __init__(self, cache, preload):
        self.known = set(cache)
        self.preload = preload
        self.broken = False  # out of step with its answers: to be dropped
        self._fork(lambda req_r, res_w: _zygote_main(dict(cache), req_r, res_w, preload))

    def serves(self, compiled):
        return bool(compiled.preload) and set(compiled.preload) <= set(self.preload)

    def run(self, compiled, digest, request, timeout, watch_fd):
        """(result or None, child's wait status or None when it timed out). Raises Hangup,
        OSError (the zygote is gone)."""
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        if digest not in self.known:
            request = dict(request, source=compiled.source)
        _write_all(self.req_w, _frame(json.dumps(request).encode("utf-8")))
        self.known.add(digest)
        pid = self._read(deadline, watch_fd)
        if pid is None:
            raise OSError(errno.EPIPE, "zygote gone")
        pid = struct.unpack(">i", pid)[0]
        if pid == 0:
            raise OSError(errno.ESTALE, "zygote's imports are stale")
        try:
            done = self._read(deadline, watch_fd)
        except Hangup:
            _kill_group(pid)
            raise
        if done is None:  # timed out: the child is killed and its status read (zygote stays)
            _kill_group(pid)
            try:
                self.broken = self._read(time.monotonic() + 10, watch_fd) is None
            except OSError:
                self.broken = True
            return None, None
        status, body = struct.unpack(">i", done[:4])[0], done[4:]
        try:
            return (json.loads(body.decode("utf-8")) if body else None), status
        except ValueError:
            return None, status

    def _read(self, deadline, watch_fd):
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        body, timed_out = _read_result(self.res_r, wait, watch_fd)
        if timed_out:
            return None
        if body is None:
            raise OSError(errno.EPIPE, "zygote gone")
        return body


class Forker(object):
    """Runs modules in forked children, keeping one spare child ready."""

    def __init__(self, cache, watch_fd=None):
        self.cache = cache
        self.watch_fd = watch_fd  # the agent's input: its hang-up abandons a running module
        self.spare = None
        self.zygotes = []  # children that imported what modules' PRELOAD names
        self.used = False
        self.zombies = []

    def preload(self, names):
        """Have a zygote that imported `names` (from the controller: what the rest of its
        play's modules PRELOAD); forked now, so the imports run while other tasks do."""
        names = tuple(sorted(set(n for n in names if isinstance(n, str) and n)))
        if not names or any(set(names) <= set(z.preload) for z in self.zygotes):
            return
        self.zygotes.append(Zygote(self.cache, names))
        while len(self.zygotes) > 2:
            self._drop(self.zygotes.pop(0))

    def _forget(self, zygote):
        self.zygotes.remove(zygote)
        self._drop(zygote)

    def _drop(self, spare):
        spare.close()  # EOF on its request pipe: it exits
        self.zombies.append(spare.pid)

    def prepare(self):
        """Fork the spare now (call after answering a request, when nothing is waiting)."""
        self.reap_finished()
        if self.used and self.spare is None:
            self.spare = Spare(self.cache)

    def discard(self, zygotes=True):
        """Drop the spare (it no longer matches the agent, e.g. after new utils), and the
        zygotes unless told not to."""
        spare, self.spare = self.spare, None
        if spare is not None:
            self._drop(spare)
        while zygotes and self.zygotes:
            self._drop(self.zygotes.pop())

    def run(self, compiled, digest, request, timeout=None):
        for zygote in self.zygotes:
            if zygote.serves(compiled):
                return self._run_in(zygote, compiled, digest, request, timeout)
        self.used = True
        if compiled.warm_learned():
            self.discard(zygotes=False)  # forked before those imports: a new one inherits them
        spare, self.spare = self.spare, None
        if spare is None:
            spare = Spare(self.cache)
        if digest not in spare.known:
            request = dict(request, source=compiled.source)
        try:
            body = json.dumps(request).encode("utf-8")
            _write_all(spare.req_w, struct.pack(">I", len(body)) + body)
            answer, timed_out = _read_result(spare.res_r, timeout, self.watch_fd)
        except OSError:
            answer, timed_out = None, False
        except Hangup:
            _kill_group(spare.pid)
            _reap(spare.pid)
            raise
        finally:
            spare.close()
        name = compiled.name
        if timed_out:
            _kill_group(spare.pid)
            _reap(spare.pid)
            return _failure(name, "timed out after %s seconds" % timeout, timeout=True)
        if answer is not None:
            try:
                result = json.loads(answer.decode("utf-8"))
                self.zombies.append(spare.pid)  # it is exiting: reap later, off the critical path
                if isinstance(result, dict):
                    compiled.learn(result.pop(LEARNED, None))
                return result
            except ValueError:
                pass
        status = _reap(spare.pid)
        return _failure(name, "died: %s" % _describe(status), rc=_rc(status))

    def _run_in(self, zygote, compiled, digest, request, timeout):
        try:
            result, status = zygote.run(compiled, digest, request, timeout, self.watch_fd)
        except OSError:  # the zygote died or its imports went stale: run as any other module
            self._forget(zygote)
            return self.run(compiled, digest, request, timeout)
        if zygote.broken:
            self._forget(zygote)
        if status is None:
            return _failure(compiled.name, "timed out after %s seconds" % timeout, timeout=True)
        if isinstance(result, dict):
            result.pop(LEARNED, None)
            return result
        return _failure(compiled.name, "died: %s" % _describe(status), rc=_rc(status))

    def reap_finished(self):
        for pid in list(self.zombies):
            try:
                done = os.waitpid(pid, os.WNOHANG)[0]
            except OSError:
                done = pid
            if done:
                self.zombies.remove(pid)

    def close(self):
        self.discard()
        for pid in self.zombies:
            _reap(pid)
        self.zombies = []


def _kill_group(pid):
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            return
        except OSError:
            continue


def _reap(pid):
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            if exc.errno == errno.ECHILD:
                return 0
            raise


def _describe(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "signal %d" % sig
        return "killed by signal %d (%s)" % (sig, name)
    if os.WIFEXITED(status):
        return "exited with code %d without a result" % os.WEXITSTATUS(status)
    return "ended with status %d" % status


def _rc(status):
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return -1
