"""Run a command line through a shell on the host (`/bin/sh -c`, or `executable`)."""

from modules._utils import cmdmodule

ARGUMENT_SPEC = {
    "cmd": {"type": "str", "required": True},
    "executable": {"type": "path"},
    "chdir": {"type": "path"},
    "creates": {"type": "path"},
    "removes": {"type": "path"},
    "stdin": {"type": "str"},
    "stdin_add_newline": {"type": "bool", "default": True},
    "strip_empty_ends": {"type": "bool", "default": True},
}
FREE_FORM = "cmd"
SUPPORTS_CHECK_MODE = True


def main(module):
    shell = module.params["executable"] or "/bin/sh"
    cmd = module.params["cmd"]
    return cmdmodule.run(module, [shell, "-c", cmd], cmd)
