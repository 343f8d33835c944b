"""Benchmark: tk vs ansible-core vs pyinfra driving lab hosts over SSH (same hosts, same run).

Brings up its own lab (`toolkit.lab.Lab("bfleet")`, needs root) and removes it at the end;
installs ansible-core and pyinfra into bench/.venvs/{ansible,pyinfra} on first use (created from
the real interpreter, not a pyenv shim). Workloads:
- W4: 100 trivial tasks (`ping`; pyinfra: `server.shell true`) on 1 host: ms per task, from the
  difference between a 101-task and a 1-task run (start-up and connection cancel out).
- W1: the 20-task host-prep playbook bench/workloads/fleet/w1.yml (pyinfra: w1_pyinfra.py) on
  1, 10 and 30 hosts: a first run into a fresh directory, then the idempotent second run.
- scale: W1 on 200 hosts with tk only: wall time and the controller's peak RSS.
ansible-core runs with ssh + pipelining, ControlMaster/ControlPersist, host key checking off and
forks = hosts; tk with forks = hosts (at least its default) and its keeper (agents kept between
runs, its own keeper dir): the keeper is stopped before every tk first run and W4 run, so those
start cold, and the report says how many agents the second run reused. Every run must succeed
with no failed or unreachable host. Prints a table, writes bench/results/fleet.json.

    python bench/fleet.py [--quick] [--only w4,w1,scale] [--tools tk,ansible,pyinfra]
                          [--hosts 1,10,30] [--scale-hosts 200] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from toolkit.lab import Lab  # noqa: E402

WORKLOADS = HERE / "workloads" / "fleet"
VENVS = HERE / ".venvs"
RESULTS = HERE / "results" / "fleet.json"
TK = Path(sys.executable).parent / "tk"
LAB_NAME = "bfleet"
TOOLS = ("tk", "ansible", "pyinfra")
PACKAGES = {"ansible": "ansible-core", "pyinfra": "pyinfra"}
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


# -- tools ----------------------------------------------------------------------------------------
def ensure_venv(tool: str) -> Path:
    """bench/.venvs/<tool> with the peer installed (made from the real interpreter)."""
    venv = VENVS / tool
    exe = venv / "bin" / ("ansible-playbook" if tool == "ansible" else "pyinfra")
    if exe.exists():
        return exe
    print(f"installing {PACKAGES[tool]} into {venv.relative_to(REPO)} ...", file=sys.stderr)
    real_python = os.path.realpath(sys.executable)
    subprocess.run([real_python, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", PACKAGES[tool]], check=True,
                   timeout=900)  # fmt: skip
    return exe


def version_of(tool: str, exe: Path) -> str:
    if tool == "tk":
        return "tk (this tree)"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].strip() if out else "?"


def environment(workdir: Path) -> Dict[str, str]:
    env = dict(os.environ, NO_COLOR="1", ANSIBLE_NOCOLOR="1", TK_BENCH_WORKDIR=str(workdir),
               TK_KEEPER_DIR=str(workdir / "keeper"))  # fmt: skip
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure tk with .pyc files, as installed
    env.update(
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_PIPELINING="True",
        ANSIBLE_SSH_ARGS="-C -o ControlMaster=auto -o ControlPersist=120s",
        ANSIBLE_SSH_CONTROL_PATH_DIR=str(workdir / "cp"),
        ANSIBLE_PYTHON_INTERPRETER="/usr/bin/python3",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-tmp"),
    )
    return env


# -- inventories ----------------------------------------------------------------------------------
def write_inventories(lab: Lab, n: int, workdir: Path) -> Dict[str, Path]:
    """INI (tk, ansible) and Python (pyinfra) inventories of the lab's first n hosts."""
    hosts = lab.hosts[:n]
    ini = workdir / f"inv-{n}.ini"
    lines = ["[bench]"] + [f"{h.name} ansible_host={h.address}" for h in hosts]
    lines += [
        "", "[bench:vars]", "ansible_user=root",
        f"ansible_ssh_private_key_file={lab.key_file}",
        f"ansible_ssh_common_args='-o UserKnownHostsFile={lab.known_hosts}'",
    ]  # fmt: skip
    ini.write_text("\n".join(lines) + "\n")
    py = workdir / f"inv_{n}.py"
    data = {"ssh_user": "root", "ssh_key": lab.key_file, "ssh_known_hosts_file": lab.known_hosts}
    entries = [(h.name, dict(data, ssh_hostname=h.address)) for h in hosts]
    py.write_text(f"bench = {entries!r}\n")
    return {"ini": ini, "py": py}


def tool_command(tool: str, exe: Path, inv: Dict[str, Path], book: Path, forks: int,
                 dest: Optional[str]) -> List[str]:  # fmt: skip
    if tool == "pyinfra":
        argv = [str(exe), "-y", "--parallel", str(forks), str(inv["py"]), str(book)]
        return argv + (["--data", f"dest={dest}"] if dest else [])
    play = ["play"] if tool == "tk" else []
    argv = [str(exe), *play, "-f", str(forks), "-i", str(inv["ini"]), str(book)]
    return argv + (["-e", f"dest={dest}"] if dest else [])


# -- running --------------------------------------------------------------------------------------
class RunFailed(RuntimeError):
    pass


DONE_LINE = {"tk": re.compile(r"^ok: \["), "ansible": re.compile(r"^ok: \["),
             "pyinfra": re.compile(r"\] (Success|No changes)")}  # fmt: skip


def run(argv: Sequence[str], env: Dict[str, str], cwd: Path, hosts: int, tool: str = "") -> Dict:
    """Run one tool: wall time, peak RSS and CPU (the process and its reaped children), changed
    count, and when each "task done" line came out (for per-task figures inside one run)."""
    out_path = Path(env["TK_BENCH_WORKDIR"]) / "last-output.txt"
    done = DONE_LINE.get(tool)
    marks: List[float] = []
    with open(out_path, "w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                text=True, errors="replace")  # fmt: skip
        for line in proc.stdout:
            if done is not None and done.search(line):
                marks.append(time.perf_counter() - start)
            out.write(line)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text(errors="replace")
    if proc.returncode != 0:
        raise RunFailed(f"{' '.join(argv[:2])} exited {proc.returncode}:\n{text[-3000:]}")
    result = {"wall_s": wall, "maxrss_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime +
              usage.ru_stime, "marks": marks}  # fmt: skip
    recap = RECAP.findall(text)
    if recap:
        bad = [r[0] for r in recap if int(r[3]) or int(r[4])]
        if len(recap) != hosts or bad:
            raise RunFailed(f"{argv[0]}: {len(recap)}/{hosts} hosts in recap, bad: {bad}")
        result["changed"] = sum(int(r[2]) for r in recap)
    return result


def stop_keeper(env: Dict[str, str]) -> None:
    """Stop tk's keeper (its kept agents close) and wait until it is gone: a cold start."""
    pidfiles = list(Path(env["TK_KEEPER_DIR"]).glob("keeper-*.pid"))
    pids = [int(p.read_text()) for p in pidfiles if p.read_text().strip().isdigit()]
    subprocess.run([str(TK), "keeper", "stop"], env=env, capture_output=True, timeout=60)
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def kept_agents(env: Dict[str, str]) -> Dict[str, int]:
    """{host: agent pid} of the agents tk's keeper holds."""
    out = subprocess.run([str(TK), "keeper", "status", "--json"], env=env, capture_output=True,
                         text=True, timeout=60).stdout  # fmt: skip
    try:
        return {a["host"]: a["pid"] for a in json.loads(out)["agents"]}
    except (ValueError, KeyError):
        return {}


def best(results: List[Dict]) -> Dict:
    return min(results, key=lambda r: r["wall_s"])


def loadavg() -> List[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- workloads ------------------------------------------------------------------------------------
def w4_books(workdir: Path, tasks: int) -> Dict[str, Dict[int, Path]]:
    books: Dict[str, Dict[int, Path]] = {"play": {}, "pyinfra": {}}
    for count in (1, tasks + 1):
        play = workdir / f"w4-{count}.yml"
        play.write_text("- hosts: all\n  gather_facts: false\n  tasks:\n"
                        + "    - ping:\n" * count)  # fmt: skip
        books["play"][count] = play
        deploy = workdir / f"w4_{count}.py"
        deploy.write_text("from pyinfra.operations import server\n"
                          f"for i in range({count}):\n"
                          "    server.shell(name=f'true {i}', commands=['true'])\n")  # fmt: skip
        books["pyinfra"][count] = deploy
    return books


def bench_w4(tools, exes, lab, workdir, env, tasks: int, repeat: int) -> Dict:
    """Per task two ways: steady state inside the run (first to last "task done" line) and the
    wall-time difference between a (tasks+1)-task and a 1-task run."""
    inv = write_inventories(lab, 1, workdir)
    books = w4_books(workdir, tasks)
    report: Dict = {"tasks": tasks, "load_before": loadavg()}
    for tool in tools:
        kind = "pyinfra" if tool == "pyinfra" else "play"
        runs: Dict[int, List[Dict]] = {}
        for count in (1, tasks + 1):
            argv = tool_command(tool, exes[tool], inv, books[kind][count], 1, None)
            runs[count] = []
            for _ in range(repeat):
                if tool == "tk":
                    stop_keeper(env)  # both counts start cold: start-up cancels out
                runs[count].append(run(argv, env, workdir, 1, tool))
        inside = [_steady(r["marks"], tasks) for r in runs[tasks + 1]]
        inside = [x for x in inside if x is not None]
        diff = best(runs[tasks + 1])["wall_s"] - best(runs[1])["wall_s"]
        report[tool] = {
            "one_task_s": round(best(runs[1])["wall_s"], 3),
            "total_s": round(best(runs[tasks + 1])["wall_s"], 3),
            "ms_per_task": round(min(inside), 2) if inside else None,
            "ms_per_task_wall_diff": round(diff * 1000 / tasks, 2),
        }
        print(f"  W4 {tool:8} {report[tool]['ms_per_task']} ms/task in-run, "
              f"{report[tool]['ms_per_task_wall_diff']} ms/task by wall difference",
              file=sys.stderr)  # fmt: skip
    report["load_after"] = loadavg()
    return report


def _steady(marks: List[float], tasks: int) -> Optional[float]:
    """ms per task between the first and the last of `tasks`+1 "task done" lines."""
    if len(marks) < tasks + 1:
        return None
    return (marks[tasks] - marks[0]) * 1000 / tasks


def bench_w1(tools, exes, lab, workdir, env, host_counts, repeat: int, ansible_repeat: int) -> Dict:
    report: Dict = {}
    book = {"play": WORKLOADS / "w1.yml", "pyinfra": WORKLOADS / "w1_pyinfra.py"}
    for n in host_counts:
        inv = write_inventories(lab, n, workdir)
        entry: Dict = {"load_before": loadavg()}
        runs: Dict[str, Dict[str, List[Dict]]] = {t: {"first": [], "second": []} for t in tools}
        for r in range(repeat):
            for tool in tools:  # interleaved, so load swings hit every tool alike
                if tool == "ansible" and r >= ansible_repeat:
                    continue
                dest = f"/srv/bench/{tool}-{n}-{r}"
                playbook = book["pyinfra" if tool == "pyinfra" else "play"]
                argv = tool_command(tool, exes[tool], inv, playbook, max(n, 5), dest)
                if tool == "tk":
                    stop_keeper(env)
                runs[tool]["first"].append(run(argv, env, WORKLOADS, n, tool))
                kept = kept_agents(env) if tool == "tk" else {}
                runs[tool]["second"].append(run(argv, env, WORKLOADS, n, tool))
                if tool == "tk":
                    after = kept_agents(env)
                    reused = sum(after.get(h) == pid for h, pid in kept.items())
                    runs[tool]["second"][-1]["reused_agents"] = reused
        for tool in tools:
            entry[tool] = {phase: _rounded(best(runs[tool][phase])) for phase in runs[tool]}
            line = "  ".join(f"{p} {entry[tool][p]['wall_s']:.2f}s" for p in ("first", "second"))
            if "reused_agents" in entry[tool]["second"]:
                line += f"  (second run reused {entry[tool]['second']['reused_agents']}/{n} agents)"
            print(f"  W1 {n:3} hosts {tool:8} {line}", file=sys.stderr)
        entry["load_after"] = loadavg()
        report[str(n)] = entry
    return report


def bench_scale(exes, lab, workdir, env, hosts: int) -> Dict:
    started = time.perf_counter()
    lab.up(hosts)
    up_s = time.perf_counter() - started
    inv = write_inventories(lab, hosts, workdir)
    entry: Dict = {"hosts": hosts, "lab_up_s": round(up_s, 2), "load_before": loadavg()}
    argv = tool_command("tk", exes["tk"], inv, WORKLOADS / "w1.yml", 50, "/srv/bench/scale")
    stop_keeper(env)
    entry["first"] = _rounded(run(argv, env, WORKLOADS, hosts))
    entry["second"] = _rounded(run(argv, env, WORKLOADS, hosts))
    entry["load_after"] = loadavg()
    print(f"  scale {hosts} hosts: first {entry['first']['wall_s']}s "
          f"({entry['first']['maxrss_mb']} MB), second {entry['second']['wall_s']}s",
          file=sys.stderr)  # fmt: skip
    return entry


def _rounded(result: Dict) -> Dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()
            if k != "marks"}  # fmt: skip


# -- report ---------------------------------------------------------------------------------------
def ratio(peer: Optional[float], ours: Optional[float]) -> str:
    return f"{peer / ours:.1f}x" if peer and ours else "-"


def _pair(entry: Dict) -> str:
    return f"{entry['first']['wall_s']:>10.2f} /{entry['second']['wall_s']:>8.2f}  "


def print_table(report: Dict) -> None:
    tools = report["tools"]
    if "w4" in report:
        w4 = report["w4"]
        print(f"\nW4: {w4['tasks']} trivial tasks on 1 host, ms per task "
              f"(load {w4['load_before'][0]} -> {w4['load_after'][0]})")  # fmt: skip
        ours = w4["tk"]["ms_per_task"]
        for tool in tools:
            theirs = w4[tool]["ms_per_task"]
            extra = "" if tool == "tk" else f"   tk is {ratio(theirs, ours)} faster"
            wall = w4[tool]["ms_per_task_wall_diff"]
            print(f"  {tool:10}{theirs or 0:10.2f} ms   (wall difference {wall} ms){extra}")
    if "w1" in report:
        print("\nW1: 20-task host-prep playbook, wall seconds (first run / idempotent second run)")
        print(f"  {'hosts':>5}  " + "".join(f"{t:>22}" for t in tools) + "   load")
        for n, entry in report["w1"].items():
            cells = "".join(_pair(entry[t]) for t in tools)
            print(f"  {n:>5}  {cells} {entry['load_before'][0]}")
        print("  ratios (peer time / tk time), first / second:")
        for n, entry in report["w1"].items():
            parts = [f"{t} {ratio(entry[t]['first']['wall_s'], entry['tk']['first']['wall_s'])}"
                     f" / {ratio(entry[t]['second']['wall_s'], entry['tk']['second']['wall_s'])}"
                     for t in tools if t != "tk"]  # fmt: skip
            print(f"  {n:>5}  " + ",  ".join(parts))
    if "scale" in report:
        s = report["scale"]
        print(f"\nscale: W1 on {s['hosts']} hosts (tk): first {s['first']['wall_s']} s, second "
              f"{s['second']['wall_s']} s, controller peak RSS {s['first']['maxrss_mb']:.0f} / "
              f"{s['second']['maxrss_mb']:.0f} MB, CPU {s['first']['cpu_s']:.1f} s "
              f"(lab up {s['lab_up_s']} s; load {s['load_before'][0]})")  # fmt: skip


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="one repeat, 1 and 10 hosts, no scale run")  # fmt: skip
    parser.add_argument("--only", default="w4,w1,scale", help="workloads: w4,w1,scale")
    parser.add_argument("--tools", default=",".join(TOOLS), help="tk,ansible,pyinfra")
    parser.add_argument("--hosts", default="1,10,30", help="host counts for W1")
    parser.add_argument("--scale-hosts", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=100, help="W4 task count")
    parser.add_argument("--repeat", type=int, default=2, help="best of N runs")
    parser.add_argument("--ansible-repeat", type=int, default=1,
                        help="W1 runs of ansible-core (slow; best of N)")  # fmt: skip
    parser.add_argument("--keep-lab", action="store_true", help="leave the lab up at the end")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.quick:
        args.repeat, args.ansible_repeat, args.hosts = 1, 1, "1,10"
        args.only = ",".join(w for w in args.only.split(",") if w != "scale")
    return args


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)  # run the clean-up (lab down) on SIGTERM too


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if os.geteuid() != 0:
        raise SystemExit("bench/fleet.py needs root (it makes lab hosts)")
    only = set(args.only.split(","))
    tools = [t for t in TOOLS if t in args.tools.split(",")]
    if "tk" not in tools:
        raise SystemExit("--tools must include tk (the ratios are against it)")
    host_counts = [int(n) for n in args.hosts.split(",")]
    exes = {"tk": TK, **{t: ensure_venv(t) for t in tools if t != "tk"}}
    report: Dict = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "versions": {t: version_of(t, exes[t]) for t in tools},
        "tools": tools, "repeat": args.repeat, "ansible_repeat": args.ansible_repeat,
        "load_start": loadavg(),
    }  # fmt: skip
    lab = Lab(LAB_NAME)
    workdir = Path(tempfile.mkdtemp(prefix="tk-bench-fleet-"))
    env = environment(workdir)
    try:
        lab.up(max(host_counts + [1]))
        if "w4" in only:
            report["w4"] = bench_w4(tools, exes, lab, workdir, env, args.tasks, args.repeat)
        if "w1" in only:
            report["w1"] = bench_w1(
                tools, exes, lab, workdir, env, host_counts, args.repeat, args.ansible_repeat
            )
        if "scale" in only:
            report["scale"] = bench_scale(exes, lab, workdir, env, args.scale_hosts)
    except RunFailed as exc:
        print(f"benchmark run failed: {exc}", file=sys.stderr)
        return 1
    finally:
        stop_keeper(env)
        if not args.keep_lab:
            lab.down()
        shutil.rmtree(workdir, ignore_errors=True)
    report["load_end"] = loadavg()
    print_table(report)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
