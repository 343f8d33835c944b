"""Micro-benchmark: milliseconds per trivial module run over a LocalConnection.

Rows:
  protocol      `call("ping")`: one framed request/response, no module
  in-process    `run_module("ping")`: an IN_PROCESS module, run inside the agent
  fork          `run_module(noop)`: a forked-child module, requests back to back
  fork+gap      same, with 2 ms of controller work between tasks (the agent forks its spare
                child in that gap, as it would while a real controller renders the next task)
  agent:*       the same module runs timed inside one agent-like process (no pipes), to show
                the agent-side cost alone
Prints a table; writes bench/results/agent_roundtrip.json. Usage:
  python bench/agent_roundtrip.py [--n 500] [--python /usr/bin/python3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from toolkit.transport.local import LocalConnection  # noqa: E402

NOOP = (
    '"""Do nothing, in a forked child."""\nARGUMENT_SPEC = {}\n\n\ndef main(module):\n'
    '    return {"changed": False}\n'
)

AGENT_SIDE = r"""
import json, sys, time
sys.path.insert(0, %(root)r)
from toolkit.agent import runner
from toolkit.agent.importer import install
from toolkit import modindex
install().add("modules._utils", modindex.utils_sources())
import modules._utils.module
n = %(n)d
out = {}
ping = runner.CompiledModule("ping", modindex.find_module("ping").source)
noop = runner.CompiledModule("noop", %(noop)r)
def timed(fn, gap=0.0):
    samples = []
    for _ in range(n):
        t = time.perf_counter(); fn(); samples.append(time.perf_counter() - t)
        if gap: time.sleep(gap)
    return samples
out["agent:in-process"] = timed(lambda: runner.run_in_process(ping, {}))
cache = {"d": noop}
f = runner.Forker(cache)
def cold():
    f.run(noop, "d", {"name": "noop", "digest": "d", "args": {}})
out["agent:fork (no spare)"] = timed(cold)
samples = []
f.prepare()
for _ in range(n):
    t = time.perf_counter(); f.run(noop, "d", {"name": "noop", "digest": "d", "args": {}})
    samples.append(time.perf_counter() - t); f.prepare()
out["agent:fork (spare ready)"] = samples
f.close()
print(json.dumps(out))
"""


def measure(fn, n: int, gap: float = 0.0) -> list:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
        if gap:
            time.sleep(gap)
    return samples


def summary(samples: list) -> dict:
    ms = sorted(s * 1000 for s in samples)
    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 4),
        "mean_ms": round(statistics.fmean(ms), 4),
        "p90_ms": round(ms[int(len(ms) * 0.9) - 1], 4),
        "min_ms": round(ms[0], 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--python", default="/usr/bin/python3")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory(prefix="tk-bench-") as lib:
        Path(lib, "tkbench_noop.py").write_text(NOOP)
        with LocalConnection(python=args.python, module_dirs=(lib,)) as conn:
            for _ in range(20):
                conn.run_module("ping", {})
                conn.run_module("tkbench_noop", {})
            rows["protocol"] = measure(lambda: conn.call("ping"), args.n)
            rows["in-process"] = measure(lambda: conn.run_module("ping", {}), args.n)
            rows["fork"] = measure(lambda: conn.run_module("tkbench_noop", {}), args.n)
            rows["fork+gap"] = measure(lambda: conn.run_module("tkbench_noop", {}), args.n, 0.002)
    script = AGENT_SIDE % {
        "root": str(Path(__file__).resolve().parent.parent),
        "n": args.n,
        "noop": NOOP,
    }
    agent = json.loads(
        subprocess.run(
            [args.python, "-c", script], check=True, capture_output=True, text=True
        ).stdout
    )
    rows.update(agent)
    results = {name: summary(samples) for name, samples in rows.items()}
    print(f"{'case':<26}{'median ms':>10}{'mean ms':>10}{'p90 ms':>10}{'min ms':>10}")
    for name, r in results.items():
        print(
            f"{name:<26}{r['median_ms']:>10.3f}{r['mean_ms']:>10.3f}{r['p90_ms']:>10.3f}"
            f"{r['min_ms']:>10.3f}"
        )
    out = Path(__file__).resolve().parent / "results" / "agent_roundtrip.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "python": args.python,
        "n": args.n,
        "cpus": os.cpu_count(),
        "loadavg": os.getloadavg(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
