"""Ensure a particular line is in a file, or replace an existing line using a regex."""

import re

from modules._utils import filemod

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True, "aliases": ["dest", "destfile", "name"]},
    "state": {"type": "str", "choices": ["absent", "present"], "default": "present"},
    "regexp": {"type": "str", "aliases": ["regex"]},
    "search_string": {"type": "str"},
    "line": {"type": "str", "aliases": ["value"]},
    "insertafter": {"type": "str"},
    "insertbefore": {"type": "str"},
    "backrefs": {"type": "bool", "default": False},
    "create": {"type": "bool", "default": False},
    "backup": {"type": "bool", "default": False},
    "firstmatch": {"type": "bool", "default": False},
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
MUTUALLY_EXCLUSIVE = [
    ["insertbefore", "insertafter"],
    ["regexp", "search_string"],
    ["backrefs", "search_string"],
]
REQUIRED_IF = [["backrefs", True, ["regexp"]]]
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True  # pure-Python file editing: no fork needed
FREE_FORM = None


def main(module):
    p = module.params
    filemod.check_mode_value(module, p["mode"])
    regexp = _compile(module, "regexp", p["regexp"])
    if p["regexp"] == "":
        module.warn("The regular expression is an empty string, which will match every line")
    if p["state"] == "present":
        if p["line"] is None:
            module.fail("line is required with state=present")
        if p["backrefs"] and p["create"]:
            module.fail("create and backrefs are mutually exclusive")
        text, existed = filemod.read_text(module, p["path"], p["create"])
        lines, msg = present(module, split_lines(text), regexp)
    else:
        if p["regexp"] is None and p["search_string"] is None and p["line"] is None:
            module.fail("one of line, search_string, or regexp is required with state=absent")
        text, existed = filemod.read_text(module, p["path"], True)
        if not existed:
            return {"changed": False, "found": 0, "msg": "file not present", "path": p["path"]}
        lines, found = absent(p, split_lines(text), regexp)
        msg = "%d line(s) removed" % found
    result = filemod.save_edit(module, p["path"], text, "".join(lines), msg, existed)
    if p["state"] == "absent":
        result["found"] = found
    return result


def _compile(module, name, pattern):
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        module.fail("%s is not a valid regular expression: %s: %s" % (name, pattern, exc))


def split_lines(text):
    """Lines keeping their '\\n' (only '\\n' ends a line, as readlines() on bytes)."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _insert_regex(module, p):
    if p["insertafter"] not in (None, "BOF", "EOF"):
        return _compile(module, "insertafter", p["insertafter"])
    if p["insertbefore"] not in (None, "BOF"):
        return _compile(module, "insertbefore", p["insertbefore"])
    return None


def _find(p, lines, regexp):
    """(index of the last (or first) line matching regexp/search_string, match or None)."""
    index, match = -1, None
    for lineno, cur in enumerate(lines):
        if regexp is not None:
            found = regexp.search(cur)
        else:
            found = cur if p["search_string"] in cur else None
        if found is not None:
            index, match = lineno, found
            if p["firstmatch"]:
                break
    return index, match


def _find_line_or_anchor(p, lines, line, anchor):
    """(index of an exact copy of line, insert position from insertafter/insertbefore)."""
    index, insert_at = -1, -1
    for lineno, cur in enumerate(lines):
        if line == cur.rstrip("\r\n"):
            index = lineno
        elif anchor is not None and anchor.search(cur):
            insert_at = lineno + 1 if p["insertafter"] else lineno
            if p["firstmatch"]:
                break
    return index, insert_at


def present(module, lines, regexp):
    """The file's lines with `line` ensured, and the message; follows Ansible's rules."""
    p = module.params
    line = p["line"]
    anchor = _insert_regex(module, p)
    index, insert_at, match = -1, -1, None
    if regexp is not None or p["search_string"] is not None:
        index, match = _find(p, lines, regexp)
    if match is None:
        index, insert_at = _find_line_or_anchor(p, lines, line, anchor)
    if index != -1:
        return _replace_or_anchor(p, lines, index, insert_at, match, regexp)
    if p["backrefs"]:
        return lines, ""
    if p["insertbefore"] == "BOF" or p["insertafter"] == "BOF":
        return [line + "\n"] + lines, "line added"
    if p["insertafter"] == "EOF" or insert_at == -1:
        return _append(lines, line), "line added"
    return _insert_at(lines, insert_at, line, bool(p["insertafter"]))


def _replace_or_anchor(p, lines, index, insert_at, match, regexp):
    line = p["line"]
    if p["backrefs"] and match is not None:
        new_line = match.expand(line)
    else:
        new_line = line
    if not new_line.endswith("\n"):
        new_line += "\n"
    if regexp is None and p["search_string"] is None and match is None:
        # The exact line exists somewhere; with an anchor it must also sit at the anchor.
        if insert_at == -1 or p["insertafter"] == "EOF" or p["insertbefore"] == "BOF":
            return lines, ""
        if p["insertafter"] and p["insertafter"] != "EOF":
            return _insert_at(lines, insert_at, line, True)
        if p["insertbefore"] and p["insertbefore"] != "BOF":
            return _insert_at(lines, insert_at, line, False)
        return lines, ""
    if lines[index] != new_line:
        lines = list(lines)
        lines[index] = new_line
        return lines, "line replaced"
    return lines, ""


def _append(lines, line):
    lines = list(lines)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines.append("\n")
    lines.append(line + "\n")
    return lines


def _insert_at(lines, position, line, after):
    """Insert line at position unless the neighbouring line already is that line."""
    lines = list(lines)
    if after:
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += "\n"
        neighbour = position if position < len(lines) else position - 1
    else:
        neighbour = position if position <= 0 else position - 1
    if lines and lines[neighbour].rstrip("\r\n") == line:
        return lines, ""
    lines.insert(position, line + "\n")
    return lines, "line added"


def absent(p, lines, regexp):
    """(lines without the matching ones, how many were removed)."""
    kept = []
    for cur in lines:
        if regexp is not None:
            hit = regexp.search(cur) is not None
        elif p["search_string"] is not None:
            hit = p["search_string"] in cur
        else:
            hit = p["line"] == cur.rstrip("\r\n")
        if not hit:
            kept.append(cur)
    return kept, len(lines) - len(kept)
