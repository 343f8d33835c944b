"""JSON through the interpreter's C accelerator (`_json`) without importing `json`.

    data = loads(text_or_bytes); data = load(fh)
    text = dumps(obj)                  # json.dumps(obj) (", " and ": " separators)
    text = dumps(obj, compact=True)    # json.dumps(obj, separators=(",", ":"))

`json` imports `re` (and with it enum, functools, collections): ~3 ms of every `tke run`, more
than the engine's own JSON work. Same results as `json.loads` / `json.dumps` (ensure_ascii,
NaN allowed, no indent); a syntax error raises json's JSONDecodeError (a ValueError).
"""

from __future__ import annotations

import _json

_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
_SPACE = " \t\n\r"


class _Context:
    """What the C scanner reads from json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict = {}


_scan = _json.make_scanner(_Context())


def _unencodable(obj):
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _encoder(item_sep: str, key_sep: str, sort_keys: bool):
    return _json.make_encoder(
        {}, _unencodable, _json.encode_basestring_ascii, None, key_sep, item_sep, sort_keys,
        False, True,
    )  # fmt: skip


def loads(text) -> object:
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8-sig" if text[:3] == b"\xef\xbb\xbf" else "utf-8")
    end = len(text.rstrip(_SPACE))
    start = len(text) - len(text.lstrip(_SPACE))
    try:
        value, stop = _scan(text, start)
    except StopIteration as exc:
        _fail("Expecting value", text, exc.value)
    if stop != end:
        _fail("Extra data", text, len(text) - len(text[stop:].lstrip(_SPACE)))
    return value


def load(fh) -> object:
    return loads(fh.read())


def dumps(obj, compact: bool = False, sort_keys: bool = False) -> str:
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        import json  # a bare scalar: rare, and the C encoder only does containers

        return json.dumps(obj)
    enc = _encoder(",", ":", sort_keys) if compact else _encoder(", ", ": ", sort_keys)
    # the C encoder keeps its markers between calls: a fresh one per call
    return "".join(enc(obj, 0))


def _fail(msg: str, text: str, pos: int):
    from json import JSONDecodeError

    raise JSONDecodeError(msg, text, pos)
