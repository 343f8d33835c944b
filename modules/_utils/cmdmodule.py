"""What command, shell and raw have in common: creates/removes, stdin, Ansible's result fields."""

import glob
import os

from modules._utils.command import Timer, run_command


def skip_reason(params, check_mode=False):
    """A result saying why the command did not run (creates/removes), or None."""
    creates, removes = params.get("creates"), params.get("removes")
    did = "Would not" if check_mode else "Did not"
    if creates and glob.glob(os.path.join(params.get("chdir") or "", creates)):
        return _skipped(
            "%s run command since '%s' exists" % (did, creates),
            "skipped, since %s exists" % creates,
        )
    if removes and not glob.glob(os.path.join(params.get("chdir") or "", removes)):
        return _skipped(
            "%s run command since '%s' does not exist" % (did, removes),
            "skipped, since %s does not exist" % removes,
        )
    return None


def _skipped(msg, stdout):
    return {
        "changed": False,
        "rc": 0,
        "msg": msg,
        "stdout": stdout,
        "stderr": "",
        "stdout_lines": [stdout],
        "stderr_lines": [],
    }


def _would_run(params, shown_cmd):
    """Check mode: with creates/removes the command would run, so a change is predicted (as
    Ansible does); without them nothing can be predicted and the task is skipped."""
    guarded = bool(params.get("creates") or params.get("removes"))
    result = {
        "changed": guarded,
        "rc": 0,
        "cmd": shown_cmd,
        "msg": "Command would have run if not in check mode",
        "stdout": "",
        "stderr": "",
        "stdout_lines": [],
        "stderr_lines": [],
    }
    if not guarded:
        result["skipped"] = True
    return result


def run(module, argv, shown_cmd):
    """Run argv with the shared options; return the command result (failed on rc != 0)."""
    params = module.params
    skipped = skip_reason(params, module.check_mode)
    if skipped is not None:
        skipped["cmd"] = shown_cmd
        return skipped
    if module.check_mode:
        return _would_run(params, shown_cmd)
    data = params.get("stdin")
    if data is not None and params.get("stdin_add_newline"):
        data += "\n"
    chdir = params.get("chdir")
    if chdir and not os.path.isdir(chdir):
        module.fail("Unable to change directory before execution: %s is not a directory" % chdir)
    timer = Timer()
    rc, out, err = run_command(argv, data=data, cwd=chdir or None)
    if params.get("strip_empty_ends", True):
        out, err = out.rstrip("\r\n"), err.rstrip("\r\n")
    result = {
        "changed": True,
        "cmd": shown_cmd,
        "rc": rc,
        "stdout": out,
        "stderr": err,
        "stdout_lines": out.splitlines(),
        "stderr_lines": err.splitlines(),
        "msg": "" if rc == 0 else "non-zero return code",
    }
    result.update(timer.fields())
    if rc != 0:
        result["failed"] = True
    return result
