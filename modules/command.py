"""Run a program with arguments on the host, without a shell (`command: ls -l /tmp`)."""

import os
import shlex

from modules._utils import cmdmodule

ARGUMENT_SPEC = {
    "cmd": {"type": "str"},
    "argv": {"type": "list", "elements": "str"},
    "expand_argument_vars": {"type": "bool", "default": True},
    "chdir": {"type": "path"},
    "creates": {"type": "path"},
    "removes": {"type": "path"},
    "stdin": {"type": "str"},
    "stdin_add_newline": {"type": "bool", "default": True},
    "strip_empty_ends": {"type": "bool", "default": True},
}
MUTUALLY_EXCLUSIVE = [["cmd", "argv"]]
REQUIRED_ONE_OF = [["cmd", "argv"]]
FREE_FORM = "cmd"
SUPPORTS_CHECK_MODE = True


def main(module):
    params = module.params
    argv = params["argv"] if params["argv"] is not None else shlex.split(params["cmd"])
    if not argv:
        module.fail("no command given")
    if params["expand_argument_vars"]:
        argv = [os.path.expanduser(os.path.expandvars(arg)) for arg in argv]
    return cmdmodule.run(module, argv, argv)
