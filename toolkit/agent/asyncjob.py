"""Fire-and-forget module runs (`async:` with `poll: 0`), in Ansible's job-file layout.

`start(cache, req)` writes `<async_dir>/<jid>` = {"started": true, "finished": false,
"ansible_job_id": jid} and double-forks a detached job (its own session, stdio on /dev/null,
no descriptor of the agent's channel kept) that runs the module in a forked child with a
deadline of `timeout` seconds, then replaces the job file with the module's result plus
ansible_job_id, started, finished: true (or "Timeout exceeded"). The job outlives the agent
and the connection; `modules/async_status.py` reads the file. Files are written to a temp
name and renamed, so a reader never sees half a file. Stdlib only, Python 3.6+.
"""

import json
import os

from toolkit.agent import runner

DEFAULT_DIR = "~/.ansible_async"


def job_path(async_dir, jid):
    if not jid or "/" in jid or jid.startswith("."):
        raise ValueError("bad async job id %r" % (jid,))
    return os.path.join(os.path.expanduser(async_dir or DEFAULT_DIR), jid)


def write_json(path, data):
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as handle:
        json.dump(data, handle)
    os.rename(tmp, path)


def start(cache, req):
    """Launch the job; return at once with what the task reports (ansible_job_id...)."""
    jid = str(req["jid"])
    path = job_path(req.get("async_dir"), jid)
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o700)
    write_json(path, {"started": True, "finished": False, "ansible_job_id": jid})
    compiled = cache.get(req["digest"]) or runner.CompiledModule(req["name"], req["source"])
    cache[req["digest"]] = compiled
    pid = os.fork()
    if pid == 0:
        try:
            _job(cache, compiled, req, jid, path)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)  # the first child exits as soon as the job is forked
    return {"changed": True, "started": True, "finished": False, "ansible_job_id": jid,
            "results_file": path}  # fmt: skip


def _job(cache, compiled, req, jid, path):
    """In the first child: detach, fork the job itself, leave."""
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    _detach()
    request = {
        "name": compiled.name,
        "digest": req["digest"],
        "args": req.get("args") or {},
        "check": bool(req.get("check")),
        "diff": bool(req.get("diff")),
        "env": req.get("env"),
        "cwd": req.get("cwd"),
    }
    timeout = req.get("timeout")
    try:
        result = runner.Forker(cache).run(compiled, req["digest"], request, timeout)
    except Exception as exc:
        result = {"failed": True, "changed": False, "msg": "async job failed: %s" % exc}
    if result.get("timeout") is True and result.get("failed"):
        result = {"failed": True, "changed": False, "msg": "Timeout exceeded"}
    result.update(ansible_job_id=jid, started=True, finished=True, results_file=path)
    write_json(path, result)


def _detach():
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:  # the agent's channel must not stay open through the job
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass
