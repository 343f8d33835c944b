"""Malformed input through the real CLI (`tk play`, `tk run`, `tk inventory` subprocesses).

Every case runs in its own directory holding the case's files (playbooks, inventories,
templates; tests/fixtures/bad_input/ holds the shared role and inventory) and a scratch
directory with one existing file. Each must exit with the right code (5: the input cannot be
parsed or the options are wrong; 2: a task failed), print one clear error naming the file:line
or the argument (and the offending line where Ansible shows it), never a Python traceback, and
leave the scratch directory exactly as it was: parse errors run nothing, and a failed task
leaves no partial file.

Playbooks put a file-writing task before the faulty one where the fault is a parse error, so
"ran nothing" is visible; for task failures the faulty task comes first.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "bad_input"
TK = Path(sys.executable).parent / "tk"
TRACEBACK = "Traceback (most recent call last)"
ERROR = re.compile(r"^(ERROR! |tk \w+: error: )")

# A task that would change the scratch directory if the play ran at all.
WRITE_FIRST = """\
    - name: write a marker
      copy:
        content: "ran\\n"
        dest: "{{ scratch }}/marker.txt"
"""
WEB_INVENTORY = "[web]\nweb1\nweb2\n[web:vars]\nansible_connection=local\n"
HEAD = "- hosts: localhost\n  gather_facts: false\n  tasks:\n"


@dataclass
class Case:
    id: str
    argv: List[str]  # after `tk`; {scratch} and {here} are replaced
    code: int
    expect: List[str]  # substrings of stdout+stderr (placeholders replaced)
    files: Dict[str, str] = field(default_factory=dict)  # relative path -> text
    where: str = ""  # "FILE:LINE" that must be named
    shows: str = ""  # the offending line that must be shown
    headline: List[str] = field(default_factory=list)  # substrings of the ERROR! line itself
    xfail: str = ""  # the bug that blocks this case, if any


def play(name: str = "site.yml", *extra: str) -> List[str]:
    return ["play", "-c", "local", "-i", "localhost,", name, "-e", "scratch={scratch}", *extra]


def alone(*tasks: str) -> str:
    """A playbook whose first task is the faulty one."""
    return HEAD + "".join(tasks)


def book(*tasks: str, head: str = HEAD, first: bool = True) -> str:
    return head + (WRITE_FIRST if first else "") + "".join(tasks)


CASES = [
    # ---- YAML and playbook structure (exit 5, nothing runs) ----
    Case(
        "yaml-unclosed-quote",
        play(),
        5,
        ["yaml"],
        {"site.yml": book('    - debug:\n        msg: "unclosed\n    - debug: msg=x\n')},
        where="site.yml:9",
    ),
    Case(
        "yaml-bad-indent",
        play(),
        5,
        [],
        {"site.yml": book("    - debug:\n        msg: a\n       bad: indent\n")},
        where="site.yml:10",
        shows="bad: indent",
    ),
    Case(
        "yaml-tab",
        play(),
        5,
        ["tab"],
        {"site.yml": book("    - debug:\n\tmsg: a\n")},
        where="site.yml:9",
    ),
    Case(
        "playbook-is-a-mapping",
        play(),
        5,
        ["list"],
        {"site.yml": "hosts: localhost\ntasks: []\n"},
        where="site.yml:1",
    ),
    Case(
        "play-without-hosts",
        play(),
        5,
        ["hosts"],
        {"site.yml": "- gather_facts: false\n  tasks:\n" + WRITE_FIRST},
        where="site.yml:1",
    ),
    Case(
        "unknown-play-keyword",
        play(),
        5,
        ["hostss", "hosts"],
        {"site.yml": "- hosts: localhost\n  hostss: all\n  tasks:\n" + WRITE_FIRST},
        where="site.yml:2",
        shows="hostss: all",
    ),
    Case(
        "unknown-module",
        play(),
        5,
        ["debugg", "did you mean", "debug"],
        {"site.yml": book("    - debugg:\n        msg: x\n")},
        where="site.yml:8",
        shows="- debugg:",
    ),
    Case(
        "unknown-task-keyword",
        play(),
        5,
        ["whenn", "when"],
        {"site.yml": book("    - debug: msg=x\n      whenn: true\n")},
        where="site.yml:9",
    ),
    Case(
        "conflicting-actions",
        play(),
        5,
        ["conflicting action statements", "debug", "command"],
        {"site.yml": book("    - debug: msg=x\n      command: /bin/true\n")},
        where="site.yml:9",
    ),
    Case(
        "loop-and-with-items",
        play(),
        5,
        ["loop", "with_items"],
        {"site.yml": book("    - debug: msg={{ item }}\n      loop: [1]\n      with_items: [2]\n")},
        where="site.yml:10",
    ),
    Case(
        "task-is-a-string",
        play(),
        5,
        [],
        {"site.yml": book('    - "just a string"\n')},
        where="site.yml:8",
        shows="just a string",
    ),
    Case(
        "task-without-action",
        play(),
        5,
        ["no module/action"],
        {"site.yml": book("    - name: nothing to do\n      when: true\n")},
        where="site.yml:8",
    ),
    Case(
        "block-with-bad-rescue",
        play(),
        5,
        ["rescue"],
        {"site.yml": book("    - block:\n        - debug: msg=x\n      rescue: oops\n")},
        where="site.yml:10",
    ),
    Case(
        "free-form-on-argument-module",
        play(),
        5,
        ["copy"],
        {"site.yml": book("    - copy: this is not key=value at all =\n")},
        where="site.yml:8",
    ),
    # ---- missing files ----
    Case("missing-playbook", play("nosuch.yml"), 5, ["nosuch.yml"]),
    Case(
        "missing-vars-file",
        play(),
        5,
        ["nosuch.yml"],
        {"site.yml": book(head=HEAD.replace("  tasks:", "  vars_files: [nosuch.yml]\n  tasks:"))},
        where="site.yml:3",
    ),
    Case(
        "missing-import-tasks",
        play(),
        5,
        ["nosuch-tasks.yml"],
        {"site.yml": book("    - import_tasks: nosuch-tasks.yml\n")},
        where="site.yml:8",
    ),
    Case(
        "missing-role",
        play(),
        5,
        ["webapq", "webapp"],
        {"site.yml": HEAD.replace("  tasks:\n", "  roles: [webapq]\n  tasks:\n") + WRITE_FIRST},
        where="site.yml:3",
    ),
    Case(
        "missing-include-tasks",
        play(),
        2,
        ["nosuch-include.yml"],
        {"site.yml": alone("    - include_tasks: nosuch-include.yml\n")},
    ),
    Case(
        "missing-template-src",
        play(),
        2,
        ["nosuch.j2"],
        {"site.yml": alone('    - template: src=nosuch.j2 dest="{{ scratch }}/out"\n')},
    ),
    Case(
        "missing-copy-src",
        play(),
        2,
        ["nosuch.txt"],
        {"site.yml": alone('    - copy: src=nosuch.txt dest="{{ scratch }}/out"\n')},
    ),
    # ---- templating ----
    Case(
        "undefined-variable-in-task",
        play(),
        2,
        ["nope", "undefined"],
        {"site.yml": alone('    - copy: content="{{ nope }}" dest="{{ scratch }}/out"\n')},
    ),
    Case(
        "undefined-variable-in-template",
        play(),
        2,
        ["missing_var", "undefined", "t.j2"],
        {
            "site.yml": alone('    - template: src=t.j2 dest="{{ scratch }}/out"\n'),
            "templates/t.j2": "line one\nvalue={{ missing_var }}\n",
        },
    ),
    Case(
        "bad-jinja-in-template",
        play(),
        2,
        ["t.j2", "endfor"],
        {
            "site.yml": alone('    - template: src=t.j2 dest="{{ scratch }}/out"\n'),
            "templates/t.j2": "a\n{% for x in [1] %}\n{{ x }}\n",
        },
    ),
    Case(
        "bad-jinja-in-task",
        play(),
        2,
        ["template"],
        {"site.yml": alone('    - copy: content="{{ 1 + }}" dest="{{ scratch }}/out"\n')},
    ),
    Case(
        "bad-jinja-in-when",
        play(),
        2,
        ["conditional"],
        {"site.yml": alone("    - debug: msg=x\n      when: x ==\n")},
    ),
    Case(
        "loop-over-a-string",  # Ansible fails the task at run time (exit 2); tk refuses to start
        play(),
        5,
        ["loop", "list"],
        {"site.yml": alone("    - debug: msg={{ item }}\n      loop: abc\n")},
        where="site.yml:5",
        shows="loop: abc",
    ),
    # ---- module arguments (task failures, exit 2) ----
    Case(
        "unknown-module-argument",
        play(),
        2,
        ["contnet", "content"],
        {"site.yml": alone('    - copy: contnet=x dest="{{ scratch }}/out"\n')},
    ),
    Case(
        "bad-choice",
        play(),
        2,
        ["state", "bogus", "directory"],
        {"site.yml": alone('    - file: path="{{ scratch }}/d" state=bogus\n')},
    ),
    Case(
        "bad-bool",
        play(),
        2,
        ["force", "maybe"],
        {"site.yml": alone('    - copy: content=x dest="{{ scratch }}/o" force=maybe\n')},
    ),
    Case(
        "bad-int",
        play(),
        2,
        ["timeout", "int"],
        {"site.yml": alone("    - wait_for: timeout=soon\n")},
    ),
    Case(
        "missing-required-argument",
        play(),
        2,
        ["path"],
        {"site.yml": alone("    - file: state=directory\n")},
    ),
    Case(
        "mutually-exclusive-arguments",
        play(),
        2,
        ["mutually exclusive", "content", "src"],
        {
            "site.yml": alone('    - copy: content=x src=f.txt dest="{{ scratch }}/out"\n'),
            "files/f.txt": "f\n",
        },
    ),
    Case(
        "bad-mode",
        play(),
        2,
        ["mode"],
        {"site.yml": alone('    - copy: content=x dest="{{ scratch }}/out" mode=rwx\n')},
    ),
    Case(
        "failed-validate-leaves-no-file",
        play(),
        2,
        ["validat"],
        {
            "site.yml": alone(
                '    - copy: content=x dest="{{ scratch }}/out" validate="/bin/false %s"\n'
            )
        },
    ),
    Case(
        "failed-validate-keeps-old-content",
        play(),
        2,
        ["validat"],
        {
            "site.yml": alone(
                '    - lineinfile: path="{{ scratch }}/keep.txt" line=new '
                'validate="/bin/false %s"\n'
            )
        },
    ),
    # ---- more playbook structure ----
    Case(
        "vars-not-a-mapping",
        play(),
        5,
        ["vars", "mapping"],
        {"site.yml": HEAD.replace("  tasks:", "  vars: [1, 2]\n  tasks:") + WRITE_FIRST},
        where="site.yml:3",
    ),
    Case(
        "when-a-mapping",
        play(),
        5,
        ["when"],
        {"site.yml": book("    - debug: msg=x\n      when: {a: 1}\n")},
        where="site.yml:9",
    ),
    Case(
        "register-bad-name",
        play(),
        5,
        ["a b", "register"],
        {"site.yml": book('    - debug: msg=x\n      register: "a b"\n')},
        where="site.yml:9",
    ),
    Case(
        "retries-not-a-number",
        play(),
        5,
        ["retries", "many"],
        {"site.yml": book("    - debug: msg=x\n      until: true\n      retries: many\n")},
        where="site.yml:10",
    ),
    Case(
        "become-not-a-bool",
        play(),
        5,
        ["become", "maybe"],
        {"site.yml": HEAD.replace("  tasks:", "  become: maybe\n  tasks:") + WRITE_FIRST},
        where="site.yml:3",
    ),
    Case(
        "with-unknown-lookup",
        play(),
        5,
        ["with_nosuch"],
        {"site.yml": book("    - debug: msg=x\n      with_nosuch: [1]\n")},
        where="site.yml:9",
    ),
    Case(
        "yaml-undefined-alias",
        play(),
        5,
        ["alias"],
        {"site.yml": book("    - debug: *nope\n")},
        where="site.yml:8",
    ),
    Case(
        "playbook-not-utf8",
        play(),
        5,
        ["utf-8"],
        {"site.yml": book("    - debug: msg=caf\udce9\n")},
    ),
    Case(
        "missing-import-playbook",
        play(),
        5,
        ["nosuch-book.yml"],
        {"site.yml": book() + "- import_playbook: nosuch-book.yml\n"},
        where="site.yml:8",
    ),
    Case(
        "missing-include-role",
        play(),
        2,
        ["webapq"],
        {"site.yml": alone("    - include_role: name=webapq\n")},
    ),
    Case(
        "notify-unknown-handler",
        play(),
        5,
        ["nosuch handler"],
        {"site.yml": book("    - command: /bin/true\n      notify: nosuch handler\n")},
        where="site.yml:9",
    ),
    Case(
        "undefined-variable-in-template-line",
        play(),
        2,
        ["missing_var"],
        {
            "site.yml": alone('    - template: src=t.j2 dest="{{ scratch }}/out"\n'),
            "templates/t.j2": "line one\nvalue={{ missing_var }}\n",
        },
        where="templates/t.j2:2",
    ),
    Case(
        "bad-jinja-in-template-line",
        play(),
        2,
        ["endfor"],
        {
            "site.yml": alone('    - template: src=t.j2 dest="{{ scratch }}/out"\n'),
            "templates/t.j2": "a\n{% for x in [1] %}\n{{ x }}\n",
        },
        where="templates/t.j2:3",
    ),
    # ---- command line ----
    Case(
        "extra-vars-bad-json",
        play("site.yml", "-e", '{"a": '),
        5,
        ["extra vars"],
        {"site.yml": book()},
    ),  # fmt: skip
    Case(
        "extra-vars-missing-file",
        play("site.yml", "-e", "@nosuch-extra.yml"),
        5,
        ["nosuch-extra.yml"],
        {"site.yml": book()},
    ),
    Case(
        "extra-vars-not-a-mapping",
        play("site.yml", "-e", "[1, 2]"),
        5,
        ["[1, 2]"],
        {"site.yml": book()},
    ),
    Case(
        "limit-matches-nothing",
        play("site.yml", "--limit", "nosuchhost"),
        5,
        ["nosuchhost"],
        {"site.yml": book()},
    ),
    Case("bad-forks", play("site.yml", "-f", "zero"), 5, ["forks"], {"site.yml": book()}),
    Case("unknown-option", play("site.yml", "--chekc"), 5, ["--chekc"], {"site.yml": book()}),
    Case(
        "bad-start-at-task",
        play("site.yml", "--start-at-task", "No such task"),
        5,
        ["No such task"],
        {"site.yml": book()},
    ),
    # ---- inventories ----
    Case(
        "inventory-unclosed-section",
        ["play", "-i", "inv.ini", "site.yml", "-e", "scratch={scratch}"],
        5,
        [],
        {"site.yml": book(), "inv.ini": "[web\nweb1\n"},
        where="inv.ini:1",
        shows="[web",
    ),
    Case(
        "inventory-binary-file",
        ["play", "-i", "inv.bin", "site.yml", "-e", "scratch={scratch}"],
        5,
        ["inv.bin", "not a text file"],
        {"site.yml": book(), "inv.bin": "\x7fELF\x02\x01\x01\x00\x00\udcff\udcfe\x00\n[web]\n"},
    ),
    Case(
        "inventory-bad-host-variable",
        ["inventory", "-i", "inv.ini", "--list"],
        5,
        ["oops"],
        {"inv.ini": "[web]\nweb1 ansible_port=22 oops\n"},
        where="inv.ini:2",
        shows="web1 ansible_port=22 oops",
    ),
    Case(
        "inventory-bad-group-vars-line",
        ["inventory", "-i", "inv.ini", "--list"],
        5,
        [],
        {"inv.ini": "[web]\nweb1\n[web:vars]\nnot a variable\n"},
        where="inv.ini:4",
        shows="not a variable",
    ),
    Case(
        "inventory-bad-range",
        ["inventory", "-i", "inv.ini", "--list"],
        5,
        ["web[1:x]"],
        {"inv.ini": "[web]\nweb[1:x]\n"},
        where="inv.ini:2",
    ),
    Case(
        "inventory-yaml-wrong-shape",
        ["inventory", "-i", "inv.yml", "--list"],
        5,
        [],
        {"inv.yml": "all:\n  hosts: [web1, web2]\n"},
        where="inv.yml:2",
    ),
    Case("inventory-missing-file", ["inventory", "-i", "nosuch.ini", "--list"], 5, ["nosuch.ini"]),
    Case(
        "inventory-unknown-host",
        ["inventory", "-i", "inv.ini", "--host", "web9"],
        5,
        ["web9"],
        {"inv.ini": "[web]\nweb1\n"},
    ),
    Case(
        "inventory-conflicting-actions",
        ["inventory", "-i", "inv.ini", "--list", "--graph"],
        5,
        ["--graph"],
        {"inv.ini": "[web]\nweb1\n"},
    ),
    Case(
        "inventory-children-cycle",
        ["inventory", "-i", "inv.ini", "--list"],
        5,
        ["cycle"],
        {"inv.ini": "[a:children]\nb\n[b:children]\na\n"},
        where="inv.ini:4",
    ),
    Case(
        "inventory-unknown-section-type",
        ["inventory", "-i", "inv.ini", "--list"],
        5,
        ["nosuch"],
        {"inv.ini": "[web:nosuch]\nweb1\n"},
        where="inv.ini:1",
        shows="[web:nosuch]",
    ),
    Case(
        "inventory-unclosed-quote",
        ["inventory", "-i", "inv.ini", "--list"],
        5,
        ["quotation"],
        {"inv.ini": '[web]\nweb1 x="unclosed\n'},
        where="inv.ini:2",
        shows='web1 x="unclosed',
    ),
    Case(
        "inventory-limit-file-missing",
        ["inventory", "-i", "inv.ini", "--list", "-l", "@nosuch-limit.txt"],
        5,
        ["nosuch-limit.txt"],
        {"inv.ini": "[web]\nweb1\n"},
    ),
    Case(
        "inventory-graph-unknown-group",
        ["inventory", "-i", "inv.ini", "--graph", "nosuch"],
        5,
        ["nosuch"],
        {"inv.ini": "[web]\nweb1\n"},
    ),
    Case(
        "inventory-script-bad-json",
        ["inventory", "-i", "script.sh", "--list"],
        5,
        ["json"],
        {"script.sh": '#!/bin/sh\necho "{bad json"\n'},
        headline=["script.sh"],
    ),
    # ---- tk run ----
    Case(
        "run-unknown-module",
        ["run", "-c", "local", "-i", "localhost,", "-m", "pingg", "localhost"],
        5,
        ["pingg", "ping"],
    ),
    Case(
        "run-limit-matches-nothing",
        ["run", "-c", "local", "-i", "localhost,", "-m", "ping", "-l", "nosuchgroup", "all"],
        5,
        ["nosuchgroup"],
    ),
    Case(
        "run-unbalanced-bracket-limit",
        [
            "run",
            "-i",
            "inv.ini",
            "-m",
            "copy",
            "-l",
            "web[1",
            "all",
            "-a",
            "content=x dest={scratch}/{{ inventory_hostname }}",
        ],
        5,
        ["web[1"],
        {"inv.ini": WEB_INVENTORY},
    ),  # fmt: skip
    Case(
        "run-invalid-regex-pattern",
        [
            "run",
            "-i",
            "inv.ini",
            "-m",
            "copy",
            "-a",
            "content=x dest={scratch}/{{ inventory_hostname }}",
            "~[",
        ],
        5,
        ["~["],
        {"inv.ini": WEB_INVENTORY},
    ),  # fmt: skip
    Case(
        "run-empty-intersection-pattern",
        ["run", "-c", "local", "-i", "localhost,", "-m", "ping", "all:&"],
        5,
        ["all:&"],
    ),
    Case(
        "run-bad-args-syntax",
        ["run", "-c", "local", "-i", "localhost,", "-m", "copy", "-a", 'dest="{scratch}/x'],
        5,
        ["-a"],
    ),
    Case(
        "run-bad-argument-value",
        [
            "run",
            "-c",
            "local",
            "-i",
            "localhost,",
            "-m",
            "file",
            "-a",
            "path={scratch}/d state=bogus",
            "localhost",
        ],
        2,
        ["bogus"],
    ),  # fmt: skip
    Case(
        "run-undefined-variable",
        [
            "run",
            "-c",
            "local",
            "-i",
            "localhost,",
            "-m",
            "copy",
            "-a",
            "content={{ nope }} dest={scratch}/x",
            "localhost",
        ],
        2,
        ["nope", "undefined"],
    ),  # fmt: skip
]


def fill(text: str, scratch: Path, here: Path) -> str:
    return text.replace("{scratch}", str(scratch)).replace("{here}", str(here))


def snapshot(root: Path) -> Dict[str, Tuple[str, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest = "dir" if path.is_dir() else hashlib.sha1(path.read_bytes()).hexdigest()
        out[str(path.relative_to(root))] = (digest, info.st_mode)
    return out


def run_tk(argv: List[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TK_FORCE_COLOR")}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [str(TK), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(params()))
def test_bad_input(case: Case, tmp_path: Path) -> None:
    here = tmp_path / "case"
    shutil.copytree(FIXTURES, here)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "keep.txt").write_text("keep me\n")
    for rel, text in case.files.items():
        target = here / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8", "surrogateescape"))
        if rel.endswith(".sh"):
            target.chmod(0o755)
    before = snapshot(scratch)

    proc = run_tk([fill(arg, scratch, here) for arg in case.argv], here)
    output = proc.stdout + proc.stderr
    shown = f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"

    assert TRACEBACK not in output, shown
    assert proc.returncode == case.code, shown
    if case.code == 2:
        assert output.count("FAILED!") == 1, shown
        assert "ERROR!" not in output, shown
    else:
        errors = [line for line in proc.stderr.splitlines() if ERROR.match(line)]
        assert len(errors) == 1, shown
    for text in case.expect:
        assert fill(text, scratch, here).lower() in output.lower(), f"{text!r} not in\n{shown}"
    if case.where:
        name, line = case.where.rsplit(":", 1)
        assert f"{here / name}:{line}" in output or f"{name}:{line}" in output, shown
    if case.shows:
        assert case.shows in output, shown
    if case.headline:
        first = next(line for line in proc.stderr.splitlines() if ERROR.match(line))
        for text in case.headline:
            assert text in first, shown
    assert snapshot(scratch) == before, f"the scratch directory changed\n{shown}"
