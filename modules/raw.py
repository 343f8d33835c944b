"""Run a raw command line on the host through `/bin/sh -c` (or `executable`); always changed."""

from modules._utils.command import run_command

ARGUMENT_SPEC = {
    "cmd": {"type": "str", "required": True, "aliases": ["free_form"]},
    "executable": {"type": "path"},
}
FREE_FORM = "cmd"
SUPPORTS_CHECK_MODE = False


def main(module):
    shell = module.params["executable"] or "/bin/sh"
    rc, out, err = run_command([shell, "-c", module.params["cmd"]])
    result = {
        "changed": True,
        "rc": rc,
        "stdout": out,
        "stderr": err,
        "stdout_lines": out.splitlines(),
        "stderr_lines": err.splitlines(),
    }
    if rc != 0:
        result.update(failed=True, msg="non-zero return code")
    return result
