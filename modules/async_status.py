"""Status of an async job started with `poll: 0` (or remove its job file), like Ansible's.

The job file `<_async_dir>/<jid>` (default ~/.ansible_async) holds {"started": true,
"finished": false, ...} while the job runs and the module's result once it is done; the result
is returned as it is, so a failed job fails this task too.
"""

import json
import os

ARGUMENT_SPEC = {
    "jid": {"type": "str", "required": True},
    "mode": {"type": "str", "default": "status", "choices": ["status", "cleanup"]},
    "_async_dir": {"type": "path", "default": "~/.ansible_async"},
}
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True


def main(module):
    jid = module.params["jid"]
    if not jid or "/" in jid or jid.startswith("."):
        module.fail("bad job id %r" % jid, ansible_job_id=jid, started=True, finished=True)
    path = os.path.join(os.path.expanduser(module.params["_async_dir"]), jid)
    if not os.path.exists(path):
        module.fail("could not find job", ansible_job_id=jid, results_file=path, started=True,
                    finished=True)  # fmt: skip
    if module.params["mode"] == "cleanup":
        os.unlink(path)
        return {"changed": False, "ansible_job_id": jid, "erased": path, "started": False,
                "finished": False}  # fmt: skip
    try:
        with open(path) as handle:
            data = json.load(handle)
    except ValueError:  # not written yet: the job is starting
        return {"changed": False, "ansible_job_id": jid, "results_file": path, "started": True,
                "finished": False}  # fmt: skip
    if not isinstance(data, dict):
        module.fail("could not parse job output", ansible_job_id=jid, results_file=path,
                    started=True, finished=True)  # fmt: skip
    if "started" not in data:  # a result written by Ansible's async_wrapper
        data["finished"] = True
    data.setdefault("finished", False)
    data["finished"] = bool(data["finished"])
    data["started"] = bool(data.get("started", True))
    data["ansible_job_id"] = jid
    data["results_file"] = path
    data.setdefault("changed", False)
    return data
