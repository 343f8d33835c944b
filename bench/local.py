"""Benchmark: per-task overhead of `tk play` in local mode, optionally beside ansible-core.

Runs a playbook of N `ping` tasks and one of N `file state=touch` tasks against localhost
(`-c local`), subtracts the time of an empty playbook (start-up), and prints ms per task.
If ansible-core can be installed into bench/.venvs/ansible (created here on first use), the
same playbooks run under ansible-playbook in the same session and the ratio is printed.
Results go to bench/results/local.json.

    python bench/local.py [--tasks 500] [--ansible-tasks 100] [--repeat 3] [--no-ansible]

ansible-core takes a few hundred ms per task, so by default it runs 100 tasks per playbook
(per-task cost is what is compared; start-up is measured and subtracted for both).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ANSIBLE_VENV = HERE / ".venvs" / "ansible"
RESULTS = HERE / "results" / "local.json"


def write_playbooks(workdir: Path, tasks: int) -> Dict[str, Path]:
    books = {}
    scratch = workdir / "scratch"
    scratch.mkdir(exist_ok=True)
    header = "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
    books["empty"] = workdir / "empty.yml"
    books["empty"].write_text(header + "    - meta: noop\n")
    books["ping"] = workdir / "ping.yml"
    books["ping"].write_text(header + "".join("    - ping:\n" for _ in range(tasks)))
    books["file"] = workdir / "file.yml"
    books["file"].write_text(
        header
        + "".join(f"    - file: path={scratch}/f{i % 50} state=touch\n" for i in range(tasks))
    )
    return books


def timed(argv: List[str], env: Dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        tail = f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        raise SystemExit(f"{' '.join(argv[:3])} failed:\n{tail}")
    return elapsed


def best(argv: List[str], env: Dict[str, str], repeat: int) -> float:
    return min(timed(argv, env) for _ in range(repeat))


def measure(command: List[str], books: Dict[str, Path], env, tasks: int, repeat: int) -> Dict:
    base = best(command + [str(books["empty"])], env, repeat)
    result = {"startup_s": round(base, 3)}
    for kind in ("ping", "file"):
        total = best(command + [str(books[kind])], env, repeat)
        result[f"{kind}_total_s"] = round(total, 3)
        result[f"{kind}_ms_per_task"] = round((total - base) * 1000 / tasks, 3)
    return result


def ansible_playbook(install: bool) -> Optional[Path]:
    exe = ANSIBLE_VENV / "bin" / "ansible-playbook"
    if exe.exists():
        return exe
    if not install:
        return None
    print("installing ansible-core into bench/.venvs/ansible ...", file=sys.stderr)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
        subprocess.run([str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible-core"],
                       check=True, timeout=900)  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"ansible-core not available ({exc}); measuring tk only", file=sys.stderr)
        shutil.rmtree(ANSIBLE_VENV, ignore_errors=True)
        return None
    return exe if exe.exists() else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--ansible-tasks", type=int, default=100, help="tasks for ansible-core")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-ansible", action="store_true", help="measure tk only")
    args = parser.parse_args()
    env = dict(os.environ, NO_COLOR="1", ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False")  # fmt: skip
    tk = [str(Path(sys.executable).parent / "tk"), "play", "-c", "local", "-i", "localhost,"]
    report: Dict = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "tasks": args.tasks,
        "repeat": args.repeat,
    }  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="tk-bench-") as tmp:
        books = write_playbooks(Path(tmp), args.tasks)
        report["tk"] = measure(tk, books, env, args.tasks, args.repeat)
        exe = None if args.no_ansible else ansible_playbook(install=True)
        if exe is not None:
            cmd = [str(exe), "-c", "local", "-i", "localhost,"]
            small = Path(tmp) / "ansible"
            small.mkdir()
            ansible_books = write_playbooks(small, args.ansible_tasks)
            report["ansible"] = measure(cmd, ansible_books, env, args.ansible_tasks, args.repeat)
            report["ansible"]["tasks"] = args.ansible_tasks
            version = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
            report["ansible"]["version"] = version.stdout.splitlines()[0] if version.stdout else ""
    print_table(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")
    return 0


def print_table(report: Dict) -> None:
    tools = [t for t in ("tk", "ansible") if t in report]
    print(f"\n{report['tasks']} tasks, local mode, best of {report['repeat']}")
    ratio = "       ratio" if len(tools) == 2 else ""
    print(f"{'':22}" + "".join(f"{t:>14}" for t in tools) + ratio)
    rows = [("start-up (s)", "startup_s"), ("ping ms/task", "ping_ms_per_task"),
            ("file touch ms/task", "file_ms_per_task")]  # fmt: skip
    for label, key in rows:
        values = [report[t][key] for t in tools]
        line = f"{label:22}" + "".join(f"{v:>14}" for v in values)
        if len(values) == 2 and values[0]:
            line += f"{values[1] / values[0]:>11.1f}x"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
