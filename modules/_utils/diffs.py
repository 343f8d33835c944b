"""Before/after helpers for `diff` results (stdlib, 3.6+)."""

import difflib
import os

MAX_DIFF_BYTES = 104448  # like Ansible's max_diff_size: bigger files are not diffed


def text_diff(before, after, before_header=None, after_header=None):
    """A `diff` result dict from two texts (or bytes)."""
    diff = {"before": _text(before), "after": _text(after)}
    if before_header is not None:
        diff["before_header"] = before_header
    if after_header is not None:
        diff["after_header"] = after_header
    return diff


def file_diff(path, new_content, new_header=None):
    """Diff of the file at `path` (empty if missing) against new content (bytes or text)."""
    before = read_for_diff(path)
    after = _limited(new_content)
    return text_diff(before, after, path, new_header or path)


def state_diff(path, before_state, after_state):
    """Diff for a change of kind/attributes, e.g. {'state': 'absent'} -> {'state': 'file'}."""
    return {"before": dict(before_state, path=path), "after": dict(after_state, path=path)}


def read_for_diff(path):
    if not os.path.isfile(path):
        return ""
    if os.path.getsize(path) > MAX_DIFF_BYTES:
        return "(file too large to diff)\n"
    with open(path, "rb") as handle:
        return _limited(handle.read())


def _limited(data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > MAX_DIFF_BYTES:
        return "(content too large to diff)\n"
    if b"\x00" in data:
        return "(binary content)\n"
    return data.decode("utf-8", "replace")


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def render(diff):
    """A unified diff text for one `diff` dict (the controller prints this with --diff)."""
    before, after = diff.get("before", ""), diff.get("after", "")
    if not isinstance(before, str) or not isinstance(after, str):
        return "--- before\n+++ after\n-%r\n+%r\n" % (before, after)
    lines = difflib.unified_diff(
        before.splitlines(True),
        after.splitlines(True),
        "before: %s" % diff.get("before_header", ""),
        "after: %s" % diff.get("after_header", ""),
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )
