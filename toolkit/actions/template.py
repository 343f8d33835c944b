"""Controller half of `template`: render a Jinja2 file with the host's variables, then copy it.

The rendered text goes through the copy action (inline content for small results), so
idempotence, check mode, diff, backup, validate and attributes behave exactly as for copy.
"""

from __future__ import annotations

import os
import platform
from typing import Any, Dict

from toolkit import modindex
from toolkit.actions import copy as copy_action
from toolkit.errors import Location, TemplateError

# Options the copy module does not know: consumed here.
TEMPLATE_OPTIONS = {
    "newline_sequence": "\n",
    "trim_blocks": True,
    "lstrip_blocks": False,
    "block_start_string": "{%",
    "block_end_string": "%}",
    "variable_start_string": "{{",
    "variable_end_string": "}}",
    "comment_start_string": "{#",
    "comment_end_string": "#}",
    "output_encoding": "utf-8",
}


def run(ctx) -> Dict[str, Any]:
    args = dict(ctx.args)
    error = copy_action.check_args(args, modindex.find_module("template").spec, "template")
    if error:
        return error
    src, dest = args.pop("src", None), args.get("dest")
    if not src or not dest:
        return copy_action._fail("src and dest are required")
    path = ctx.find_file("templates", str(src))
    try:
        text = render(ctx, path, args, str(dest))
    except TemplateError as exc:  # name the line inside the template file Jinja knows
        where = exc.location if exc.location is not None else path
        return copy_action._fail(f"{exc.message} (in {where})", template=path)
    newline = args.pop("newline_sequence", None)
    if newline and newline != "\n":
        text = text.replace("\n", newline)
    encoding = args.pop("output_encoding", None) or "utf-8"
    warnings = []
    if encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        warnings.append(f"output_encoding {encoding} is not supported; writing utf-8")
    for key in TEMPLATE_OPTIONS:
        args.pop(key, None)
    basename = os.path.basename(str(src))
    result = copy_action.copy_content(ctx, text, args, basename=basename)
    if warnings:
        result["warnings"] = list(result.get("warnings") or []) + warnings
    return result


def render(ctx, path: str, args: Dict[str, Any], dest: str) -> str:
    """The template's text, with Ansible's template_* variables (the Templar adds
    ansible_managed and the template_path/uid/mtime/run_date ones)."""
    extra = {
        "template_host": platform.node(),
        "template_destpath": dest,
    }
    overrides = _overrides(args)
    if overrides:
        return _render_with_header(ctx, path, extra, overrides)
    return ctx.templar.render_file(path, extra_vars=extra)


def _overrides(args: Dict[str, Any]) -> Dict[str, Any]:
    """Jinja2 environment settings that differ from the defaults."""
    result = {}
    for key in (k for k in TEMPLATE_OPTIONS if k.endswith(("_blocks", "_string"))):
        value = args.get(key)
        if value is None:
            continue
        if key.endswith("_blocks"):
            value = copy_action.to_bool(value)
        if value != TEMPLATE_OPTIONS[key]:
            result[key] = value
    return result


def _render_with_header(ctx, path: str, extra: Dict[str, Any], overrides: Dict[str, Any]) -> str:
    """Apply environment options by rendering a copy with a `#jinja2:` first line beside the
    original (so relative includes still resolve), then removing the copy."""
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    header = "#jinja2:" + ", ".join(f"{k}: {v!r}" for k, v in overrides.items())
    shift = 1  # lines the copy has before the template's own first line
    if source.startswith("#jinja2:"):  # the template's own settings win over the task's
        first, _, source = source.partition("\n")
        header += ", " + first[len("#jinja2:") :]
        shift = 0
    directory = os.path.dirname(os.path.abspath(path))
    copy_path = os.path.join(directory, f".tk-template-{os.getpid()}-{os.path.basename(path)}")
    try:
        with open(copy_path, "w", encoding="utf-8") as fh:
            fh.write(header + "\n" + source)
        extra = dict(extra, template_path=path, template_fullpath=path)
        return ctx.templar.render_file(copy_path, extra_vars=extra)
    except OSError as exc:
        msg = f"cannot apply template options to {path}: {exc.strerror or exc}"
        raise TemplateError(msg) from None
    except TemplateError as exc:  # point at the user's file, not the copy
        where = exc.location
        if where is not None and where.path == copy_path:
            exc.location = Location(path, max(where.line - shift, 1) if where.line else 0)
        raise
    finally:
        if os.path.exists(copy_path):
            os.unlink(copy_path)
