"""A small Go text/template subset for `--format` / `inspect -f`.

Supported: fields (`{{.A.B}}`, `{{.}}`), variables (`{{$x := .A}}`, `{{$x.B}}`, `$` for the
whole object, `{{range $k, $v := .M}}`), parenthesized pipelines with fields on their result
(`{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}`), pipelines
(`{{.X | json}}`), `{{range .L}}…{{else}}…{{end}}` (a map's keys in sorted order, as Go),
`{{if}}`, `{{with}}`, `{{- ` / ` -}}` trimming, and the functions `json`, `index`, `join`,
`split`, `upper`, `lower`, `title`, `len`, `print`, `println`, `printf`, `eq`, `ne`, `lt`,
`le`, `gt`, `ge`, `and`, `or`, `not`. Missing fields render as `<no value>`, like Go.
Syntax errors raise UsageError naming the template.
"""

from __future__ import annotations

import json
import re
from typing import Any

from toolkit.errors import UsageError

_ACTION = re.compile(r"{{(-\s)?(.*?)(\s-)?}}", re.S)
NO_VALUE = "<no value>"


_PARSED: dict = {}  # template -> nodes, and action text -> (names, commands): rows share them


def render(template: str, data: Any) -> str:
    nodes = _PARSED.get(template)
    if nodes is None:
        nodes, rest = _parse(_tokens(template), template, None)
        if rest:
            raise UsageError(f"template {template!r}: unexpected {{{{{rest[0][1]}}}}}")
        _PARSED[template] = nodes
    return _run(nodes, data, template, {"$": data})


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


def _run(nodes: list, dot: Any, template: str, scope: dict) -> str:
    """The nodes' output; `scope`: the variables ($ and those declared so far)."""
    out = []
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
            continue
        names, commands = _action(node[1], template)
        value = _eval(commands, dot, scope, template)
        if kind == "expr":
            if names:
                scope[names[-1]] = value
            else:
                out.append(_str(value))
        elif kind == "range":
            out.append(_range(node, value, names, dot, template, scope))
        elif _truthy(value):
            inner = dict(scope, **({names[-1]: value} if names else {}))
            out.append(_run(node[2], value if kind == "with" else dot, template, inner))
        else:
            out.append(_run(node[3], dot, template, dict(scope)))
    return "".join(out)


def _range(node: tuple, value: Any, names: list, dot: Any, template: str, scope: dict) -> str:
    if isinstance(value, dict):
        pairs = [(key, value[key]) for key in sorted(value)]
    else:
        pairs = list(enumerate(value or [])) if value is not _MISSING else []
    if not pairs:
        return _run(node[3], dot, template, dict(scope))
    out = []
    for key, item in pairs:
        inner = dict(scope)
        if len(names) == 2:
            inner[names[0]], inner[names[1]] = key, item
        elif names:
            inner[names[0]] = item
        out.append(_run(node[2], item, template, inner))
    return "".join(out)


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {}) and value is not _MISSING


_MISSING = object()


_LEX = re.compile(
    r'\s+|(?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?(?![\w.]))'
    r"|(?P<open>\()|(?P<close>\)(?:\.[A-Za-z_]\w*)*)|(?P<pipe>\|)|(?P<decl>:=)|(?P<comma>,)"
    r"|(?P<var>\$\w*(?:\.[A-Za-z_]\w*)*)|(?P<field>(?:\.[A-Za-z_]\w*)+|\.)|(?P<ident>[A-Za-z_]\w*)"
)


def _lex(text: str, template: str) -> list:
    tokens, pos = [], 0
    while pos < len(text):
        m = _LEX.match(text, pos)
        if m is None:
            raise UsageError(f"template {template!r}: unexpected {text[pos]!r} in {text!r}")
        if m.lastgroup:
            tokens.append((m.lastgroup, m.group()))
        pos = m.end()
    return tokens


def _action(text: str, template: str) -> tuple:
    """An action's declared variable names (`$k, $v :=`) and its pipeline's commands."""
    key = ("action", text)
    if key not in _PARSED:
        _PARSED[key] = _parse_action(text, template)
    return _PARSED[key]


def _parse_action(text: str, template: str) -> tuple:
    tokens = _lex(text, template)
    names: list = []
    if len(tokens) > 1 and tokens[0][0] == "var" and tokens[1][0] == "decl":
        names, tokens = [tokens[0][1]], tokens[2:]
    elif len(tokens) > 3 and [t[0] for t in tokens[:4]] == ["var", "comma", "var", "decl"]:
        names, tokens = [tokens[0][1], tokens[2][1]], tokens[4:]
    commands, i = _commands(tokens, 0, template)
    if i < len(tokens):
        raise UsageError(f"template {template!r}: unexpected {tokens[i][1]!r} in {text!r}")
    return names, commands


def _commands(tokens: list, i: int, template: str) -> tuple:
    """A pipeline: its commands (lists of operands), up to a `)` or the end."""
    commands: list = [[]]
    while i < len(tokens) and tokens[i][0] != "close":
        if tokens[i][0] == "pipe":
            commands.append([])
            i += 1
            continue
        operand, i = _operand(tokens, i, template)
        commands[-1].append(operand)
    if not all(commands):
        raise UsageError(f"template {template!r}: empty command")
    return commands, i


def _operand(tokens: list, i: int, template: str) -> tuple:
    kind, text = tokens[i]
    if kind == "open":
        sub, i = _commands(tokens, i + 1, template)
        if i >= len(tokens):
            raise UsageError(f"template {template!r}: unclosed left paren")
        return ("sub", sub, _names(tokens[i][1][1:])), i + 1
    if kind in ("str", "raw", "num"):
        literal = json.loads(text) if kind == "str" else text[1:-1] if kind == "raw" else None
        if kind == "num":
            literal = float(text) if "." in text else int(text)
        return ("lit", literal), i + 1
    if kind == "field":
        return ("field", _names(text)), i + 1
    if kind == "var":
        name, _, rest = text.partition(".")
        return ("var", name, _names("." + rest if rest else "")), i + 1
    if kind == "ident":
        return ("ident", text), i + 1
    raise UsageError(f"template {template!r}: unexpected {text!r}")


def _names(chain: str) -> list:
    return [name for name in chain.split(".") if name]


def _eval(commands: list, dot: Any, scope: dict, template: str) -> Any:
    value: Any = _MISSING
    for n, command in enumerate(commands):
        value = _command(command, dot, scope, template, (value,) if n else ())
    return value


def _command(command: list, dot: Any, scope: dict, template: str, piped: tuple) -> Any:
    head = command[0]
    if head[0] == "ident" and head[1] not in CONSTANTS:
        if head[1] not in FUNCS:
            raise UsageError(f"template {template!r}: function {head[1]!r} not defined")
        args = [_value(op, dot, scope, template) for op in command[1:]] + list(piped)
        return _call(head[1], args, template)
    if len(command) > 1 or piped:
        raise UsageError(f"template {template!r}: can't give argument to non-function")
    return _value(head, dot, scope, template)


CONSTANTS = {"true": True, "false": False, "nil": None}


def _value(operand: tuple, dot: Any, scope: dict, template: str) -> Any:
    kind = operand[0]
    if kind == "lit":
        return operand[1]
    if kind == "field":
        return _walk(dot, operand[1])
    if kind == "var":
        if operand[1] not in scope:
            raise UsageError(f"template {template!r}: undefined variable {operand[1]!r}")
        return _walk(scope[operand[1]], operand[2])
    if kind == "sub":
        return _walk(_eval(operand[1], dot, scope, template), operand[2])
    if operand[1] in CONSTANTS:
        return CONSTANTS[operand[1]]
    return _command([operand], dot, scope, template, ())


def _walk(value: Any, names: list) -> Any:
    for name in names:
        if not (isinstance(value, dict) and name in value):
            return _MISSING
        value = value[name]
    return value


def _call(name: str, args: list, template: str) -> Any:
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
    """Go's `index`: a map's missing key gives the zero value of its values' type (a label
    map's "", also when the map is empty or null; a port map's empty list), a list's index
    out of range is an error."""
    for key in keys:
        if isinstance(value, dict) and key not in value:
            value = _zero(value.values())
        elif value is None and isinstance(key, str):
            value = ""  # a null map (docker's labels of an image without any)
        elif value is None or value is _MISSING:
            raise IndexError("index of untyped nil")
        elif isinstance(value, (list, str)) and not -len(value) < key < len(value):
            raise IndexError(f"index out of range: {key}")
        else:
            value = value[key]
    return value


def _zero(values) -> Any:
    """The zero value of the type all `values` share ("" for none, as docker's label maps)."""
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) > 1:
        return None
    kind = kinds.pop() if kinds else str
    return kind() if kind in (str, list, dict, int, float, bool) else None


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
    "split": lambda v, sep: _str(v).split(sep),
    "eq": lambda a, *b: any(_plain(a) == _plain(x) for x in b),
    "ne": lambda a, b: _plain(a) != _plain(b),
    "lt": lambda a, b: _plain(a) < _plain(b),
    "le": lambda a, b: _plain(a) <= _plain(b),
    "gt": lambda a, b: _plain(a) > _plain(b),
    "ge": lambda a, b: _plain(a) >= _plain(b),
    "and": lambda *v: next((x for x in v if not _truthy(x)), v[-1]),
    "or": lambda *v: next((x for x in v if _truthy(x)), v[-1]),
    "not": lambda v: not _truthy(v),
}


def _plain(value: Any) -> Any:
    return None if value is _MISSING else value
