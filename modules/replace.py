"""Replace every match of a regular expression in a file (optionally between two anchors)."""

import os
import re

from modules._utils import filemod

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True, "aliases": ["dest", "destfile", "name"]},
    "regexp": {"type": "str", "required": True},
    "replace": {"type": "str", "default": ""},
    "after": {"type": "str"},
    "before": {"type": "str"},
    "backup": {"type": "bool", "default": False},
    "validate": {"type": "str"},
    "encoding": {"type": "str", "default": "utf-8"},
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
SUPPORTS_CHECK_MODE = True
IN_PROCESS = True  # pure-Python file editing: no fork needed
FREE_FORM = None


def main(module):
    p = module.params
    path = p["path"]
    filemod.check_mode_value(module, p["mode"])
    if os.path.isdir(path):
        module.fail("Path %s is a directory !" % path, rc=256)
    if not os.path.exists(path):
        module.fail("Path %s does not exist !" % path, rc=257)
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode(p["encoding"], "surrogateescape")
    except LookupError:
        module.fail("unknown encoding %s" % p["encoding"])
    section, start, end = _section(module, text)
    if section is None:
        return {
            "changed": False,
            "path": path,
            "msg": "Pattern for before/after params did not match the given file: %s"
            % _section_pattern(p),
        }
    regex = _compile(module, p["regexp"], re.MULTILINE)
    try:
        new_section, count = regex.subn(p["replace"], section)
    except (re.error, IndexError) as exc:
        module.fail("bad replacement %r: %s" % (p["replace"], exc))
    after = text[:start] + new_section + text[end:]
    msg = "%d replacements made" % count if after != text else ""
    return filemod.save_edit(module, path, text, after, msg, True, p["encoding"])


def _compile(module, pattern, flags):
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        module.fail("%s is not a valid regular expression: %s" % (pattern, exc))


def _section_pattern(p):
    if p["after"] and p["before"]:
        return "%s(?P<subsection>.*?)%s" % (p["after"], p["before"])
    if p["after"]:
        return "%s(?P<subsection>.*)" % p["after"]
    if p["before"]:
        return "(?P<subsection>.*)%s" % p["before"]
    return None


def _section(module, text):
    """(the text to work on, its start, its end); section is None when the anchors miss."""
    pattern = _section_pattern(module.params)
    if pattern is None:
        return text, 0, len(text)
    match = _compile(module, pattern, re.DOTALL).search(text)
    if not match:
        return None, 0, 0
    return match.group("subsection"), match.start("subsection"), match.end("subsection")
