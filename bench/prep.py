"""Benchmark: playbooks/prepare-centos.yml on 1 and 10 booted CentOS stand-in hosts, tk vs
ansible-core, first run (everything changes) and second run (nothing changes), same session.

Each tool gets freshly booted hosts (`SystemdLab`, see toolkit/lab/systemd.py): boot, run the
playbook twice, tear down. tk's keeper (agents kept between runs) lives in this bench's own
dir and is stopped before tk's first run, which therefore starts cold; the second run reuses
the first run's agents, as ansible-core's second run reuses its ControlPersist connections.
tk's compiled-code cache (~/.cache/tk/compiled) stays as earlier runs left it, as Python's
bytecode does; point XDG_CACHE_HOME at an empty directory to time a first run without it.
Both run with forks >= hosts. ansible-core with ansible.posix comes from
bench/.venvs/ansible-full (made here on first use: `pip install 'ansible>=12,<13'`).
Results go to bench/results/prep.json. Needs root.

    python bench/prep.py [--hosts 1,10] [--no-ansible]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from toolkit.lab.systemd import SystemdLab  # noqa: E402

PLAYBOOK = REPO / "playbooks" / "prepare-centos.yml"
ANSIBLE_VENV = HERE / ".venvs" / "ansible-full"
RESULTS = HERE / "results" / "prep.json"
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def ansible_playbook(install: bool) -> Optional[Path]:
    exe = ANSIBLE_VENV / "bin" / "ansible-playbook"
    if exe.exists() or not install:
        return exe if exe.exists() else None
    subprocess.run([sys.executable, "-m", "venv", str(ANSIBLE_VENV)], check=True)
    pip = [str(ANSIBLE_VENV / "bin" / "pip"), "install", "-q", "ansible>=12,<13"]
    if subprocess.run(pip).returncode != 0:
        return None
    return exe if exe.exists() else None


def inventory(lab: SystemdLab, workdir: Path) -> Path:
    """The lab's inventory with its hosts in [centos], beside the example group_vars."""
    directory = workdir / lab.name
    directory.mkdir(parents=True, exist_ok=True)
    link = directory / "group_vars"
    if not link.exists():
        link.symlink_to(REPO / "inventory" / "group_vars")
    text = Path(lab.inventory).read_text().replace("[lab]", "[centos]")
    (directory / "hosts.ini").write_text(text.replace("[lab:vars]", "[centos:vars]"))
    return directory / "hosts.ini"


def stop_keeper(workdir: Path) -> None:
    """Stop tk's keeper (this bench's own keeper dir) and wait until it is gone, so that tk's
    first run starts cold: no keeper process, no kept agent."""
    keeper_dir = workdir / "keeper"
    pids = [int(t) for t in (p.read_text().strip() for p in keeper_dir.glob("keeper-*.pid"))
            if t.isdigit()]  # fmt: skip
    env = dict(os.environ, TK_KEEPER_DIR=str(keeper_dir))
    tk = Path(sys.executable).parent / "tk"
    subprocess.run([str(tk), "keeper", "stop"], env=env, capture_output=True, timeout=60)
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def timed_play(argv: List[str], hosts: int, workdir: Path) -> Dict[str, float]:
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1",
               TK_KEEPER_DIR=str(workdir / "keeper"))  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    counts = [tuple(map(int, m[1:])) for m in RECAP.findall(proc.stdout)]
    if proc.returncode != 0 or len(counts) != hosts or any(c[3] for c in counts):
        raise SystemExit(f"{argv[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return {"seconds": round(took, 3), "changed": sum(c[1] for c in counts)}


def one_tool(tool: str, argv0: List[str], hosts: int, workdir: Path) -> Dict[str, object]:
    lab = SystemdLab(f"bp{tool[0]}{hosts}", os_name="centos")
    lab.down()
    start = time.perf_counter()
    lab.up(hosts)
    boot = time.perf_counter() - start
    try:
        inv = inventory(lab, workdir)
        argv = argv0 + ["-f", str(max(hosts, 5)), "-i", str(inv), str(PLAYBOOK)]
        if tool == "tk":
            stop_keeper(workdir)  # a cold first run; the second reuses its agents
        first = timed_play(argv, hosts, workdir)
        second = timed_play(argv, hosts, workdir)
    finally:
        lab.down()
        if tool == "tk":
            stop_keeper(workdir)
    if second["changed"]:
        raise SystemExit(f"{tool}: second run changed {second['changed']} tasks")
    return {"boot_seconds": round(boot, 2), "first": first, "second": second}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="1,10", help="comma-separated host counts")
    parser.add_argument("--no-ansible", action="store_true", help="only time tk")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench/prep.py needs root (booted lab hosts)")
    tk = [str(Path(sys.executable).parent / "tk"), "play"]
    ansible = None if args.no_ansible else ansible_playbook(install=True)
    workdir = Path("/tmp") / f"tk-bench-prep-{os.getpid()}"
    rows = []
    for hosts in [int(h) for h in args.hosts.split(",") if h]:
        row: Dict[str, object] = {"hosts": hosts, "tk": one_tool("tk", tk, hosts, workdir)}
        if ansible is not None:
            row["ansible"] = one_tool("ansible", [str(ansible)], hosts, workdir)
            for run in ("first", "second"):
                ratio = row["ansible"][run]["seconds"] / row["tk"][run]["seconds"]
                row[f"speedup_{run}"] = round(ratio, 1)
        rows.append(row)
        print(summary(row), flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    meta = {"machine": platform.node(), "cpus": os.cpu_count(), "python": sys.version.split()[0]}
    RESULTS.write_text(json.dumps({"meta": meta, "runs": rows}, indent=1) + "\n")
    print(f"results: {RESULTS}")
    return 0


def summary(row: Dict[str, object]) -> str:
    parts = [f"{row['hosts']:>3} hosts"]
    for tool in ("tk", "ansible"):
        if tool in row:
            r = row[tool]
            parts.append(
                f"{tool}: first {r['first']['seconds']:.2f}s (changed {r['first']['changed']}), "
                f"second {r['second']['seconds']:.2f}s"
            )
    if "speedup_first" in row:
        parts.append(f"speed-up {row['speedup_first']}x / {row['speedup_second']}x")
    return " | ".join(parts)


if __name__ == "__main__":
    sys.exit(main())
