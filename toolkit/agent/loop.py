"""The agent's request loop: read a frame, do the op, answer with one frame (stdlib, 3.6+).

Protocol and ops: docs/internals.md ("Agent protocol"). The protocol uses the original stdin
(the first stage's buffered reader) and a private dup of stdout; fd 1 is pointed at stderr so
that a stray print cannot corrupt the channel.
"""

import os
import sys

from toolkit.agent import fileops, frames, runner


class Agent(object):
    def __init__(self, importer, reader, out_fd):
        self.importer = importer
        self.reader = reader
        self.out_fd = out_fd
        self.compiled = {}
        self.forker = runner.Forker(self.compiled, _fileno(reader))
        self.files = fileops.FileOps()
        self.running = True
        self.handlers = {
            "utils": self.op_utils,
            "run_module": self.op_run_module,
            "run_async": self.op_run_async,
            "put_begin": self.files.put_begin,
            "put_chunk": self.files.put_chunk,
            "put_end": self.files.put_end,
            "put_abort": self.files.put_abort,
            "fetch": self.files.fetch,
            "stat": self.op_stat,
            "ping": lambda req: {"pong": True},
            "exit": self.op_exit,
        }

    def hello(self):
        return {
            "op": "hello",
            "pid": os.getpid(),
            "python": list(sys.version_info[:3]),
            "uid": os.getuid(),
            "executable": sys.executable,
        }

    def op_utils(self, req):
        package = req.get("package") or "modules._utils"
        for loaded in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[loaded]  # a new version replaces the old one
        files = req.get("sources") or {}
        if req.get("compiled"):  # {relpath: code} from a controller with our magic number
            files = runner.unmarshal(req["compiled"])
        self.importer.add(package, files)
        self.forker.discard()
        if package == "modules._utils":
            import modules._utils.module  # noqa: F401  (forked children inherit it imported)
        return {"installed": sorted(files)}

    def op_run_module(self, req):
        name, digest = req["name"], req["digest"]
        if req.get("preload"):
            self.forker.preload(req["preload"])
        compiled = self.compiled.get(digest)
        if compiled is None:
            if "source" not in req:
                return {
                    "failed": True,
                    "changed": False,
                    "need_source": True,
                    "msg": "agent has no source for module %s (digest %s)" % (name, digest),
                }
            compiled = runner.CompiledModule(name, req["source"], req.get("compiled"))
            self.compiled[digest] = compiled
            compiled.warm_imports()
        args = req.get("args") or {}
        check, diff = bool(req.get("check")), bool(req.get("diff"))
        env, cwd, timeout = req.get("env"), req.get("cwd"), req.get("timeout")
        if compiled.in_process and not (env or cwd or timeout):
            return runner.run_in_process(compiled, args, check, diff)
        request = {
            "name": name,
            "digest": digest,
            "args": args,
            "check": check,
            "diff": diff,
            "env": env,
            "cwd": cwd,
        }
        return self.forker.run(compiled, digest, request, timeout)

    def op_run_async(self, req):
        from toolkit.agent import asyncjob  # only fire-and-forget tasks need it

        return asyncjob.start(self.compiled, req)

    def op_stat(self, req):
        from modules._utils.files import stat_info

        return stat_info(
            req["path"],
            follow=bool(req.get("follow", False)),
            get_checksum=bool(req.get("checksum", True)),
        )

    def op_exit(self, req):
        self.running = False
        return {"bye": True}

    def handle(self, req):
        rid = req.get("id")
        handler = self.handlers.get(req.get("op"))
        if handler is None:
            return {"id": rid, "ok": False, "error": "unknown op %r" % (req.get("op"),)}
        try:
            return {"id": rid, "ok": True, "result": handler(req)}
        except Exception as exc:
            return {
                "id": rid,
                "ok": False,
                "error": "%s: %s" % (type(exc).__name__, exc),
                "traceback": runner.format_exc(),
            }

    def serve(self):
        frames.write_frame(self.out_fd, self.hello())
        try:
            while self.running:
                try:
                    req = frames.read_frame(self.reader)
                except frames.ChannelClosed:
                    break
                try:
                    answer = self.handle(req)
                except runner.Hangup:
                    break  # the controller is gone: nobody to answer
                frames.write_frame(self.out_fd, answer)
                if self.running:
                    self.forker.prepare()
        finally:
            self.files.close()
            self.forker.close()


def _fileno(reader):
    try:
        return reader.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file: nothing to watch
        return None


def main(importer):
    """Entry point called by the payload after the first stage exec'd it."""
    reader = sys.stdin.buffer
    out_fd = os.dup(1)
    os.dup2(2, 1)
    Agent(importer, reader, out_fd).serve()
    sys.stdout.flush()
    os._exit(0)
