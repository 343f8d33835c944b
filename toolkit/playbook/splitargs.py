"""Split free-form task arguments (`copy: src=a dest="b c"`) the way Ansible does.

Words are separated by whitespace, except inside quotes or Jinja2 delimiters (`{{ }}`,
`{% %}`, `{# #}`). A word `key=value` becomes an argument with the value unquoted; other words
are joined back (with their original spacing and quotes) into `_raw_params`.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_OPENERS = {"{{": "}}", "{%": "%}", "{#": "#}"}


class SplitError(ValueError):
    """Unbalanced quotes or Jinja2 delimiters in a free-form string."""


def split_words(text: str) -> List[Tuple[int, int]]:
    """(start, end) spans of the words of `text`."""
    spans: List[Tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        start = i
        i = _scan_word(text, i)
        spans.append((start, i))
    return spans


def _scan_word(text: str, i: int) -> int:
    n = len(text)
    closers: List[str] = []
    quote: Optional[str] = None
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\" and i + 1 < n:
                i += 2
                continue
            if ch == quote:
                quote = None
            i += 1
            continue
        pair = text[i : i + 2]
        if pair in _OPENERS:
            closers.append(_OPENERS[pair])
            i += 2
            continue
        if closers and pair == closers[-1]:
            closers.pop()
            i += 2
            continue
        if ch in "'\"" and not closers:
            quote = ch
        elif ch.isspace() and not closers:
            break
        i += 1
    if quote:
        raise SplitError(f"unbalanced quote {quote} in: {text}")
    if closers:
        raise SplitError(f"unbalanced Jinja2 delimiter (missing '{closers[-1]}') in: {text}")
    return i


def unquote(value: str) -> str:
    """Strip one pair of matching outer quotes and unescape the quote inside."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        inner = value[1:-1]
        return inner.replace("\\" + value[0], value[0])
    return value


def parse_kv(text: str, check_raw: bool = False) -> Dict[str, Any]:
    """Split `text` into `{key: value}`; non-k=v words go to `_raw_params`.

    With `check_raw` (command-like actions) only keys in `names.FREEFORM_KV` are split out;
    everything else, including `x=y` words, stays part of the command.
    """
    from toolkit.playbook.names import FREEFORM_KV

    args: Dict[str, Any] = {}
    raw: List[Tuple[int, int]] = []
    for start, end in split_words(text):
        word = text[start:end]
        match = _KEY.match(word)
        key = match.group(0)[:-1] if match else None
        if key is not None and (not check_raw or key in FREEFORM_KV):
            args[key] = unquote(word[len(key) + 1 :])
        else:
            raw.append((start, end))
    if raw:
        args["_raw_params"] = _join_spans(text, raw)
    return args


def _join_spans(text: str, spans: List[Tuple[int, int]]) -> str:
    """The words at `spans`, keeping the original separators between adjacent words."""
    out = [text[spans[0][0] : spans[0][1]]]
    for (_, prev_end), (start, end) in zip(spans, spans[1:]):
        gap = text[prev_end:start]
        contiguous = text[prev_end:start].strip() == ""
        out.append(gap if contiguous else " ")
        out.append(text[start:end])
    return "".join(out)
