"""A small Go text/template subset for `--format` / `inspect -f`.

Supported: `{{.A.B}}`, `{{.}}`, `{{json .X}}`, `{{index .M "k"}}`, `{{join .L ", "}}`,
`{{upper .X}}`, `{{lower .X}}`, `{{title .X}}`, `{{len .X}}`, `{{println .X}}`,
`{{printf "%s" .X}}`,
pipelines (`{{.X | json}}`), `{{range .L}}…{{end}}`, `{{if .X}}…{{else}}…{{end}}`,
`{{with .X}}…{{end}}`, and `{{- ` / ` -}}` trimming. Missing fields render as `<no value>`,
like Go. Syntax errors raise UsageError naming the template.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from toolkit.errors import UsageError

_ACTION = re.compile(r"{{(-\s)?(.*?)(\s-)?}}", re.S)
NO_VALUE = "<no value>"


def render(template: str, data: Any) -> str:
    nodes, rest = _parse(_tokens(template), template, None)
    if rest:
        raise UsageError(f"template {template!r}: unexpected {{{{{rest[0][1]}}}}}")
    return _run(nodes, data, template)


def _tokens(template: str) -> list:
    out, pos = [], 0
    for m in _ACTION.finditer(template):
        text = template[pos : m.start()]
        if m.group(1):
            text = text.rstrip()
        out.append(("text", text))
        out.append(("action", m.group(2).strip(), bool(m.group(3))))
        pos = m.end()
    if "{{" in template[pos:]:
        raise UsageError(f"template parsing error: {template!r}: unclosed action")
    out.append(("text", template[pos:]))
    cleaned = []
    for i, tok in enumerate(out):
        if tok[0] == "text" and i > 0 and out[i - 1][0] == "action" and out[i - 1][2]:
            tok = ("text", tok[1].lstrip())
        cleaned.append(tok)
    return cleaned


def _parse(tokens: list, template: str, closer: Any) -> tuple[list, list]:
    nodes: list = []
    while tokens:
        tok, tokens = tokens[0], tokens[1:]
        if tok[0] == "text":
            nodes.append(("text", tok[1]))
            continue
        word = tok[1].split(None, 1)[0] if tok[1] else ""
        if word in ("end", "else"):
            if closer is None:
                raise UsageError(f"template {template!r}: unexpected {{{{{word}}}}}")
            return nodes, [tok] + tokens
        if word in ("range", "if", "with"):
            body, tokens = _parse(tokens, template, word)
            other: list = []
            if tokens and tokens[0][1] == "else":
                other, tokens = _parse(tokens[1:], template, word)
            if not tokens or tokens[0][1] != "end":
                raise UsageError(f"template {template!r}: missing {{{{end}}}}")
            tokens = tokens[1:]
            nodes.append((word, tok[1][len(word) :].strip(), body, other))
        else:
            nodes.append(("expr", tok[1]))
    if closer is not None:
        raise UsageError(f"template {template!r}: missing {{{{end}}}}")
    return nodes, []


def _run(nodes: list, dot: Any, template: str) -> str:
    out = []
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "expr":
            out.append(_str(_pipeline(node[1], dot, template)))
        else:
            value = _pipeline(node[1], dot, template)
            if kind == "range":
                items = value.values() if isinstance(value, dict) else (value or [])
                if items:
                    out.extend(_run(node[2], item, template) for item in items)
                else:
                    out.append(_run(node[3], dot, template))
            elif _truthy(value):
                out.append(_run(node[2], value if kind == "with" else dot, template))
            else:
                out.append(_run(node[3], dot, template))
    return "".join(out)


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {}) and value is not _MISSING


_MISSING = object()


def _pipeline(text: str, dot: Any, template: str) -> Any:
    value: Any = _MISSING
    for stage in text.split("|"):
        try:
            words = shlex.split(stage, posix=True)
        except ValueError as exc:
            raise UsageError(f"template {template!r}: {exc}") from None
        raw = re.findall(r'"(?:[^"\\]|\\.)*"|\S+', stage)
        if not words:
            raise UsageError(f"template {template!r}: empty command")
        args = [_arg(w, dot, template) for w in raw[1:]]
        if value is not _MISSING:
            args.append(value)
        value = (
            _call(raw[0], args, dot, template) if raw[0] in FUNCS else _arg(raw[0], dot, template)
        )
    return value


def _arg(word: str, dot: Any, template: str) -> Any:
    if word.startswith('"'):
        return json.loads(word)
    if word == ".":
        return dot
    if word.startswith("."):
        value = dot
        for part in word[1:].split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            else:
                return _MISSING
        return value
    if re.fullmatch(r"-?\d+", word):
        return int(word)
    if word in ("true", "false"):
        return word == "true"
    raise UsageError(f"template {template!r}: function {word!r} not defined")


def _call(name: str, args: list, dot: Any, template: str) -> Any:
    try:
        return FUNCS[name](*args)
    except (TypeError, KeyError, IndexError) as exc:
        raise UsageError(f"template {template!r}: error calling {name}: {exc}") from None


def _str(value: Any) -> str:
    if value is _MISSING or value is None:
        return NO_VALUE if value is _MISSING else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_str(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_str(v) for v in value) + "]"
    return str(value)


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        value = value[key]
    return value


FUNCS = {
    "json": lambda v: json.dumps(None if v is _MISSING else v, separators=(",", ":")),
    "index": _index,
    "join": lambda v, sep: sep.join(_str(x) for x in v or []),
    "upper": lambda v: _str(v).upper(),
    "lower": lambda v: _str(v).lower(),
    "title": lambda v: _str(v).title(),
    "len": lambda v: len(v),
    "println": lambda *v: " ".join(_str(x) for x in v) + "\n",
    "print": lambda *v: "".join(_str(x) for x in v),
    "printf": lambda fmt, *v: fmt.replace("%v", "%s") % tuple(_str(x) for x in v),
}
