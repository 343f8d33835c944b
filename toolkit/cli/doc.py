"""`tk doc MODULE` shows a module's description and arguments; `tk doc -l` lists modules."""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

from toolkit import modindex
from toolkit.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("modules", nargs="*", metavar="MODULE", help="module name(s), e.g. copy")
    parser.add_argument("-l", "--list", action="store_true", help="list all modules")
    parser.add_argument("-j", "--json", action="store_true", help="print the spec as JSON")


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(list_text())
        return 0
    if not args.modules:
        raise UsageError("name a module (tk doc copy) or use -l to list them")
    infos = [modindex.find_module(name) for name in args.modules]
    if args.json:
        print(json.dumps({i.name: as_json(i) for i in infos}, indent=2, sort_keys=True))
        return 0
    print("\n\n".join(module_text(info) for info in infos))
    return 0


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def list_text() -> str:
    names = modindex.list_modules()
    width = max((len(n) for n in names), default=0)
    return "\n".join(
        f"{name:<{width}}  {_first_line(modindex.find_module(name).doc)}" for name in names
    )


def as_json(info: modindex.ModuleInfo) -> Dict[str, Any]:
    data = {"description": info.doc, "path": info.path, "options": info.spec}
    data.update({k.lower(): v for k, v in info.constants.items() if k != "ARGUMENT_SPEC"})
    return data


def _option_lines(name: str, opt: Dict[str, Any], indent: str = "") -> List[str]:
    mark = "=" if opt.get("required") else "-"
    lines = [f"{indent}{mark} {name}"]
    pad = indent + "        "
    kind = opt.get("type", "str")
    if opt.get("elements"):
        kind += f" (elements: {opt['elements']})"
    lines.append(f"{pad}type: {kind}")
    if opt.get("aliases"):
        lines.append(f"{pad}aliases: {', '.join(opt['aliases'])}")
    if opt.get("choices"):
        lines.append(f"{pad}choices: [{', '.join(str(c) for c in opt['choices'])}]")
    if opt.get("default") is not None:
        lines.append(f"{pad}default: {json.dumps(opt['default'])}")
    if opt.get("no_log"):
        lines.append(f"{pad}no_log: true (value never shown)")
    for sub, sub_opt in sorted((opt.get("options") or {}).items()):
        lines.extend(_option_lines(sub, sub_opt, indent + "    "))
    return lines


RULES = {
    "MUTUALLY_EXCLUSIVE": "mutually exclusive",
    "REQUIRED_ONE_OF": "one of required",
    "REQUIRED_TOGETHER": "required together",
}


def module_text(info: modindex.ModuleInfo) -> str:
    lines = [f"> {info.name.upper()}    ({info.path})", ""]
    lines += ["  " + line if line else "" for line in info.doc.strip().splitlines()] + [""]
    if info.free_form:
        lines.append(f"  Takes a free-form string: `{info.name}: ...` sets `{info.free_form}`.")
        lines.append("")
    lines.append("OPTIONS (= is mandatory):")
    for name, opt in sorted(info.spec.items()):
        lines.extend(_option_lines(name, opt))
    notes = []
    for key, label in RULES.items():
        for group in info.constants.get(key) or []:
            notes.append(f"{label}: {'|'.join(group)}")
    for rule in info.constants.get("REQUIRED_IF") or []:
        kind = "any of" if len(rule) > 3 and rule[3] else "all of"
        notes.append(f"if {rule[0]}={rule[1]}: {kind} {', '.join(rule[2])} required")
    notes.append(f"check mode: {'supported' if info.supports_check_mode else 'not supported'}")
    lines += ["", "NOTES:"] + [f"  - {note}" for note in notes]
    return "\n".join(lines)
