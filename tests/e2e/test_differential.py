"""Differential acceptance: tests/fixtures/differential/site.yml run by ansible-core and by tk.

Both run in local mode against two inventory hosts, each tool against its own scratch
directory. Per play, task and host, the status (ok/changed/skipped/failed, ignored, per-item
statuses of loops) must agree, and so must the resulting trees (paths, types, modes, contents,
link targets). Scenarios: a first run, a second run (idempotence), --check on a fresh directory,
--tags/--skip-tags, and the --list-tasks/--list-hosts/--list-tags text.

ansible-core is pip-installed once into bench/.venvs/ansible (shared with bench/local.py); the
module skips, saying why, only when pip cannot install it. ansible-core ships no json stdout
callback, so tests/fixtures/differential/callback_plugins/tk_status.py prints the same shape as
`tk play --json`.
"""

from __future__ import annotations

import difflib
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "differential"
PLAYBOOK = FIXTURES / "site.yml"
INVENTORY = FIXTURES / "inventory.ini"
ANSIBLE_VENV = REPO / "bench" / ".venvs" / "ansible"
TK = Path(sys.executable).parent / "tk"
INSTALL_LOCK = threading.Lock()

pytestmark = pytest.mark.slow

TAGS = ["--tags", "files,imported,role", "--skip-tags", "never"]


def ansible_playbook() -> Path:
    """The ansible-playbook executable, installing ansible-core into the cached venv once."""
    exe = ANSIBLE_VENV / "bin" / "ansible-playbook"
    with INSTALL_LOCK:
        if exe.exists():
            return exe
        made = subprocess.run(
            [sys.executable, "-m", "venv", "--clear", str(ANSIBLE_VENV)],
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            pytest.skip(f"cannot create a venv for ansible-core: {made.stderr.strip()[-500:]}")
        pip = subprocess.run(
            [str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if pip.returncode != 0 or not exe.exists():
            pytest.skip(f"pip cannot install ansible-core: {pip.stderr.strip()[-500:]}")
    return exe


def ansible_env(home: Path) -> Dict[str, str]:
    """No user or system configuration; state and temp files under `home`."""
    (home / "ansible.cfg").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        ANSIBLE_CALLBACK_PLUGINS=str(FIXTURES / "callback_plugins"),
        ANSIBLE_STDOUT_CALLBACK="tk_status",
        ANSIBLE_PYTHON_INTERPRETER=str(ANSIBLE_VENV / "bin" / "python"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_CONFIG=str(home / "ansible.cfg"),
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_REMOTE_TEMP=str(home / "remote-tmp"),
    )
    return env


def tk_env() -> Dict[str, str]:
    drop = ("NO_COLOR", "TK_FORCE_COLOR")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("ANSIBLE_")}


def run_ansible(args: List[str], home: Path) -> subprocess.CompletedProcess:
    argv = [str(ansible_playbook()), "-i", str(INVENTORY), str(PLAYBOOK), *args]
    return subprocess.run(
        argv, cwd=FIXTURES, env=ansible_env(home), capture_output=True, text=True, timeout=600
    )


def run_tk(args: List[str]) -> subprocess.CompletedProcess:
    argv = [str(TK), "play", "-i", str(INVENTORY), str(PLAYBOOK), *args]
    return subprocess.run(
        argv, cwd=FIXTURES, env=tk_env(), capture_output=True, text=True, timeout=300
    )


def document(proc: subprocess.CompletedProcess, who: str) -> dict:
    assert proc.returncode == 0, f"{who} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(proc.stdout)


def status(result: dict) -> str:
    if result.get("unreachable"):
        return "unreachable"
    if result.get("failed"):
        return "failed"
    if result.get("skipped"):
        return "skipped"
    return "changed" if result.get("changed") else "ok"


Row = Tuple[str, str, str]  # (play name, task name, host)


def statuses(doc: dict) -> List[Tuple[Row, tuple]]:
    """Every host result in run order: ((play, task, host), (status, ignored, item statuses)).

    Item statuses are left out for include_* loops: Ansible returns one result per included
    file there and tk one per task, and neither is visible to a user."""
    rows = []
    for play in doc["plays"]:
        for task in play["tasks"]:
            for host in sorted(task["hosts"]):
                result = task["hosts"][host]
                items = result.get("results")
                if isinstance(items, list) and not str(result.get("action")).startswith("include"):
                    items = tuple(status(item) for item in items)
                else:
                    items = None
                key = (play["play"]["name"], task["task"]["name"], host)
                rows.append((key, (status(result), bool(result.get("ignored")), items)))
    return rows


def keyed(rows: List[Tuple[Row, tuple]]) -> Dict[tuple, tuple]:
    """Rows keyed by (play, task, host, n-th occurrence): order between hosts not compared."""
    seen: Dict[Row, int] = {}
    out = {}
    for key, value in rows:
        seen[key] = seen.get(key, 0) + 1
        out[(*key, seen[key])] = value
    return out


def assert_same_statuses(ansible: dict, tk: dict) -> None:
    want, got = keyed(statuses(ansible)), keyed(statuses(tk))
    diffs = [
        f"{' / '.join(map(str, key))}: ansible={want.get(key)} tk={got.get(key)}"
        for key in sorted(set(want) | set(got), key=str)
        if want.get(key) != got.get(key)
    ]
    assert not diffs, "per-task statuses differ:\n" + "\n".join(diffs)


def tree(root: Path) -> Dict[str, tuple]:
    """Relative path -> (kind, mode, content or link target), with root replaced by <SCRATCH>."""
    out: Dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        rel = str(path.relative_to(root))
        mode = oct(stat.S_IMODE(info.st_mode))
        if stat.S_ISLNK(info.st_mode):
            out[rel] = ("link", os.readlink(path).replace(str(root), "<SCRATCH>"))
        elif stat.S_ISDIR(info.st_mode):
            out[rel] = ("dir", mode)
        else:
            out[rel] = ("file", mode, path.read_text().replace(str(root), "<SCRATCH>"))
    return out


def assert_same_tree(ansible_root: Path, tk_root: Path) -> None:
    want, got = tree(ansible_root), tree(tk_root)
    diffs = [
        f"{rel}: ansible={want.get(rel)!r} tk={got.get(rel)!r}"
        for rel in sorted(set(want) | set(got))
        if want.get(rel) != got.get(rel)
    ]
    assert not diffs, "resulting trees differ:\n" + "\n".join(diffs)


class Side:
    """One tool's runs: a scratch directory per scenario and the JSON document of each run."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.docs: Dict[str, dict] = {}
        self.procs: Dict[str, subprocess.CompletedProcess] = {}

    def scratch(self, name: str) -> Path:
        path = self.base / name
        path.mkdir(parents=True, exist_ok=True)
        return path


SCENARIOS = {
    # name: (scratch directory, extra arguments)
    "first": ("main", []),
    "second": ("main", []),
    "check": ("check", ["--check"]),
    "tags": ("tags", TAGS),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Dict[str, Side]:
    """Run every scenario under both tools; ansible's chains run in parallel threads."""
    ansible_playbook()  # install (or skip) before starting threads
    base = tmp_path_factory.mktemp("differential")
    sides = {"ansible": Side(base / "ansible"), "tk": Side(base / "tk")}
    home = base / "ansible-home"
    home.mkdir()

    def play(tool: str, name: str) -> None:
        side = sides[tool]
        where, extra = SCENARIOS[name]
        args = ["-e", f"scratch={side.scratch(where)}", *extra]
        if tool == "ansible":
            side.procs[name] = run_ansible(args, home)
        else:
            side.procs[name] = run_tk([*args, "--json"])

    def chain(tool: str, names: List[str]) -> None:
        for name in names:
            play(tool, name)

    threads = [
        threading.Thread(target=chain, args=("ansible", ["first", "second"])),
        threading.Thread(target=chain, args=("ansible", ["check", "tags"])),
    ]
    for thread in threads:
        thread.start()
    chain("tk", ["first", "second", "check", "tags"])
    for thread in threads:
        thread.join()
    return sides


def docs(runs: Dict[str, Side], name: str) -> Tuple[dict, dict]:
    return (
        document(runs["ansible"].procs[name], "ansible-playbook"),
        document(runs["tk"].procs[name], "tk play"),
    )


def test_first_run_statuses(runs):
    ansible, tk = docs(runs, "first")
    assert_same_statuses(ansible, tk)
    # the playbook really exercises what it claims: changes, skips, a rescued and an
    # ignored failure, handlers
    counted = [value[0] for _, value in statuses(tk)]
    assert {"ok", "changed", "skipped", "failed"} <= set(counted)
    assert tk["stats"]["web1"]["rescued"] == 1 and tk["stats"]["web2"]["ignored"] == 1


def test_first_run_task_order(runs):
    """Linear strategy: the same task sequence (and hosts per task) as Ansible."""
    ansible, tk = docs(runs, "first")

    def order(doc: dict) -> List[str]:
        rows = []
        for play in doc["plays"]:
            for task in play["tasks"]:
                if task["hosts"]:
                    hosts = ",".join(sorted(task["hosts"]))
                    rows.append(f"{play['play']['name']} / {task['task']['name']} [{hosts}]")
        return rows

    want, got = order(ansible), order(tk)
    assert want == got, "\n".join(difflib.unified_diff(want, got, "ansible", "tk", lineterm=""))


@pytest.mark.parametrize("name", ["first", "second", "tags"])
def test_recap_counts(runs, name):
    ansible, tk = docs(runs, name)
    assert ansible["stats"] == tk["stats"]


def test_first_run_trees(runs):
    docs(runs, "first")
    assert_same_tree(runs["ansible"].base / "main", runs["tk"].base / "main")


def test_second_run_is_idempotent_like_ansible(runs):
    ansible, tk = docs(runs, "second")
    assert_same_statuses(ansible, tk)
    assert_same_tree(runs["ansible"].base / "main", runs["tk"].base / "main")


def test_check_mode_statuses(runs):
    ansible, tk = docs(runs, "check")
    assert_same_statuses(ansible, tk)


def test_check_mode_changes_nothing(runs):
    for side in runs.values():
        assert side.procs["check"].returncode in (0, 2)
        assert tree(side.base / "check") == {}, side.base


def test_tags_statuses_and_trees(runs):
    ansible, tk = docs(runs, "tags")
    assert_same_statuses(ansible, tk)
    assert_same_tree(runs["ansible"].base / "tags", runs["tk"].base / "tags")


def listing(option: str, tool: str, home: Path) -> str:
    args = [option, "-e", "scratch=/nonexistent"]
    proc = run_ansible(args, home) if tool == "ansible" else run_tk(args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # the first line names the playbook as given; trailing blank lines are not compared
    lines = [line.rstrip() for line in proc.stdout.strip("\n").splitlines()[1:]]
    if option == "--list-hosts":  # ansible-playbook prints a set: host order is random
        lines = sort_runs(lines, lambda line: line.startswith(" " * 6))
    return "\n".join(lines)


def sort_runs(lines: List[str], member) -> List[str]:
    """Sort each run of consecutive lines for which member(line) is true."""
    out: List[str] = []
    run: List[str] = []
    for line in [*lines, None]:
        if line is not None and member(line):
            run.append(line)
            continue
        out.extend(sorted(run))
        run = []
        if line is not None:
            out.append(line)
    return out


@pytest.mark.parametrize(
    "option",
    ["--list-tasks", "--list-hosts", "--list-tags"],
)
def test_listings_match(option, tmp_path):
    home = tmp_path / "ansible-home"
    home.mkdir()
    want = listing(option, "ansible", home)
    got = listing(option, "tk", home)
    assert want == got, "\n".join(
        difflib.unified_diff(want.splitlines(), got.splitlines(), "ansible", "tk", lineterm="")
    )
