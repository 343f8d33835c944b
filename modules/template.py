"""Render a Jinja2 template on the controller and copy the result to the target.

The rendering happens in the controller-side action (toolkit/actions/template.py), which then
hands the text to the copy module; this file declares the options (for `tk doc` and argument
checks) and refuses to run on its own.
"""

ARGUMENT_SPEC = {
    "src": {"type": "path", "required": True},
    "dest": {"type": "path", "required": True},
    "backup": {"type": "bool", "default": False},
    "force": {"type": "bool", "default": True},
    "mode": {"type": "raw"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "validate": {"type": "str"},
    "follow": {"type": "bool", "default": False},
    "newline_sequence": {"type": "str", "default": "\n", "choices": ["\n", "\r", "\r\n"]},
    "trim_blocks": {"type": "bool", "default": True},
    "lstrip_blocks": {"type": "bool", "default": False},
    "block_start_string": {"type": "str", "default": "{%"},
    "block_end_string": {"type": "str", "default": "%}"},
    "variable_start_string": {"type": "str", "default": "{{"},
    "variable_end_string": {"type": "str", "default": "}}"},
    "comment_start_string": {"type": "str", "default": "{#"},
    "comment_end_string": {"type": "str", "default": "#}"},
    "output_encoding": {"type": "str", "default": "utf-8"},
    "unsafe_writes": {"type": "bool", "default": False},
    "attributes": {"type": "str", "aliases": ["attr"]},
    "seuser": {"type": "str"},
    "serole": {"type": "str"},
    "setype": {"type": "str"},
    "selevel": {"type": "str"},
}
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True
FREE_FORM = None


def main(module):
    module.fail(
        "template is rendered on the controller: run it as a task (tk play, tk run -m template),"
        " which renders it and copies the result with the copy module"
    )
