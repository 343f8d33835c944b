"""Insert, update or remove a block of lines surrounded by marker lines in a file."""

import re

from modules._utils import filemod

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True, "aliases": ["dest", "destfile", "name"]},
    "state": {"type": "str", "choices": ["absent", "present"], "default": "present"},
    "marker": {"type": "str", "default": "# {mark} ANSIBLE MANAGED BLOCK"},
    "block": {"type": "str", "default": "", "aliases": ["content"]},
    "insertafter": {"type": "str"},
    "insertbefore": {"type": "str"},
    "create": {"type": "bool", "default": False},
    "backup": {"type": "bool", "default": False},
    "marker_begin": {"type": "str", "default": "BEGIN"},
    "marker_end": {"type": "str", "default": "END"},
    "append_newline": {"type": "bool", "default": False},
    "prepend_newline": {"type": "bool", "default": False},
    "validate": {"type": "str"},
    "mode": {"type": "raw"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "unsafe_writes": {"type": "bool", "default": False},
    "attributes": {"type": "str", "aliases": ["attr"]},
    "seuser": {"type": "str"},
    "serole": {"type": "str"},
    "setype": {"type": "str"},
    "selevel": {"type": "str"},
}
MUTUALLY_EXCLUSIVE = [["insertbefore", "insertafter"]]
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True  # pure-Python file editing: no fork needed
FREE_FORM = None


def main(module):
    p = module.params
    filemod.check_mode_value(module, p["mode"])
    if "{mark}" not in p["marker"]:
        module.warn("marker has no {mark}: the begin and end markers are the same line")
    text, existed = filemod.read_text(module, p["path"], p["create"] or p["state"] == "absent")
    if not existed and p["state"] == "absent":
        return {"changed": False, "msg": "", "path": p["path"]}
    lines = _split(text, keepends=True)
    begin = p["marker"].replace("{mark}", p["marker_begin"])
    end = p["marker"].replace("{mark}", p["marker_end"])
    block = _block_lines(p, begin, end)
    position = _remove_old_block(lines, begin, end)
    if position is None:
        position = _insertion_point(module, lines)
    if block:
        _insert(p, lines, position, block)
    after = "".join(lines)
    msg = _message(text, after, existed, block)
    return filemod.save_edit(module, p["path"], text, after, msg, existed)


def _split(text, keepends):
    """Lines split on \\n, \\r\\n or \\r (like bytes.splitlines)."""
    if not text:
        return []
    parts = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)
    return parts if keepends else [part.rstrip("\r\n") for part in parts]


def _block_lines(p, begin, end):
    """The marker-wrapped block, or [] when it must go (state=absent or an empty block)."""
    if p["state"] == "absent" or not p["block"]:
        return []
    return [line + "\n" for line in [begin] + _split(p["block"], False) + [end]]


def _remove_old_block(lines, begin, end):
    """Delete an existing block in place; its start index, or None when there was none."""
    n0 = n1 = None
    for i, line in enumerate(lines):
        bare = line.rstrip("\r\n")
        if bare == begin:
            n0 = i
        if bare == end:
            n1 = i
    if n0 is None or n1 is None:
        return None
    if n0 > n1:
        n0, n1 = n1, n0
    del lines[n0 : n1 + 1]
    return n0


def _insertion_point(module, lines):
    p = module.params
    after, before = p["insertafter"], p["insertbefore"]
    pattern = None
    if after not in (None, "EOF"):
        pattern = after
    elif before not in (None, "BOF"):
        pattern = before
    if pattern is None:
        return 0 if before == "BOF" else len(lines)
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        module.fail("insertafter/insertbefore is not a valid regular expression: %s" % exc)
    found = None
    for i, line in enumerate(lines):
        if regex.search(line):
            found = i
    if found is None:
        return len(lines)
    return found + 1 if after is not None else found


def _insert(p, lines, position, block):
    if position > 0 and not lines[position - 1].endswith(("\n", "\r")):
        lines[position - 1] += "\n"
    if p["prepend_newline"] and position > 0 and lines[position - 1].strip():
        block = ["\n"] + block
    if p["append_newline"] and position < len(lines) and lines[position].strip():
        block = block + ["\n"]
    lines[position:position] = block


def _message(before, after, existed, block):
    if before == after:
        return ""
    if not existed:
        return "File created"
    if not block:
        return "Block removed"
    return "Block inserted"
