"""`--format` of listings (ps, images, history, stats, search), as docker's CLI reads it.

    write_rows(out, rows, "table {{.ID}}\\t{{.Names}}", PS_HEADERS)

A Go template is rendered once per row; `json` prints each row as one JSON object; `table
TEMPLATE` adds a header (each `{{.Field}}` by its column title) and aligns the tab-separated
columns as docker's tabwriter does. As in docker, a `\\t` or `\\n` written in the format (as a
shell passes "\\t" through) is a tab or a newline.
"""

from __future__ import annotations

import re
from typing import TextIO

from toolkit.engine.gotemplate import render
from toolkit.engine.humanize import table

_FIELD = re.compile(r"{{\s*\.(\w+)\s*}}")


def write_rows(out: TextIO, rows: list, fmt: str, headers: dict, default: str = "") -> None:
    """`headers`: field -> column title; `default`: the template of a bare `table`."""
    fmt = fmt.replace("\\t", "\t").replace("\\n", "\n")
    if fmt == "json":
        fmt = "{{json .}}"
    if not fmt.startswith("table"):
        for row in rows:
            out.write(render(fmt, row) + "\n")
        return
    body = fmt[len("table") :].strip() or default or "\t".join("{{." + h + "}}" for h in headers)
    head = _FIELD.sub(lambda m: headers.get(m.group(1), m.group(1).upper()), body)
    lines = [head.split("\t")] + [render(body, row).split("\t") for row in rows]
    width = max(len(line) for line in lines)
    padded = [line + [""] * (width - len(line)) for line in lines]
    table(out, padded[0], padded[1:])
