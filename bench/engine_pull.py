"""Benchmark: `tke pull` against `podman pull` and `skopeo copy` (docker too if its daemon runs).

One local docker-registry (distribution 2.8, plain HTTP on 127.0.0.1) holds two images built
offline: busybox (one layer) and a ~100 MB image of 5 layers (busybox + 4 × 25 MB of files, half
random bytes, half text). Each tool pulls each image `--repeat` times into a store that is
emptied before every run; the median wall time is reported, and ratios against the peers
measured in the same run. skopeo copies to a `dir:` (download + verify only, no extraction).

    python bench/engine_pull.py [--repeat 3] [--layers 5] [--mb-per-layer 25]

Results: a table on stdout and bench/results/engine_pull.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "engine_pull.json"
sys.path.insert(0, str(REPO))

from tests.engine.imagebuilder import (  # noqa: E402
    busybox_layers,
    fat_layers,
    skopeo_copy,
    write_oci_layout,
)
from tests.engine.regserver import RegistryServer  # noqa: E402


def settle() -> None:
    """The root fs is mounted with `discard`: let big deletes finish before timing writes."""
    subprocess.run(["sync"], check=False)
    time.sleep(1.5)


CPU: List[float] = []  # user+sys seconds of the last timed command (children's rusage)


def run(argv: List[str], env: Optional[Dict[str, str]] = None) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv[:4])} failed:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
        )
    return elapsed


def wipe(path: Path) -> None:
    if path.exists():
        subprocess.run(["rm", "-rf", str(path)], check=True)


class Tools:
    def __init__(self, work: Path) -> None:
        self.work = work
        self.python = sys.executable

    def tke(self, ref: str) -> float:
        root = self.work / "tke-root"
        wipe(root)
        settle()
        env = dict(os.environ, PYTHONPATH=str(REPO), DOCKER_CONFIG=str(self.work / "dcfg"))
        return run(
            [self.python, "-m", "toolkit.engine.cli", "--root", str(root), "pull", "-q", ref], env
        )

    def podman(self, ref: str) -> float:
        root, runroot = self.work / "podman-root", self.work / "podman-run"
        if root.exists():
            subprocess.run(
                [
                    "podman",
                    "--root",
                    str(root),
                    "--runroot",
                    str(runroot),
                    "--storage-driver",
                    "overlay",
                    "system",
                    "reset",
                    "-f",
                ],
                capture_output=True,
            )
        wipe(root)
        wipe(runroot)
        settle()
        return run(
            [
                "podman",
                "--root",
                str(root),
                "--runroot",
                str(runroot),
                "--storage-driver",
                "overlay",
                "--events-backend",
                "file",
                "pull",
                "-q",
                "--tls-verify=false",
                ref,
            ]
        )

    def skopeo(self, ref: str) -> float:
        dest = self.work / "skopeo-dir"
        wipe(dest)
        settle()
        return run(
            [
                "skopeo",
                "--insecure-policy",
                "copy",
                "-q",
                "--src-tls-verify=false",
                f"docker://{ref}",
                f"dir:{dest}",
            ]
        )

    def docker(self, ref: str) -> float:
        subprocess.run(["docker", "rmi", "-f", ref], capture_output=True)
        settle()
        return run(["docker", "pull", "-q", ref])


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--mb-per-layer", type=int, default=25)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tkt-img-bench-"))
    reg = None
    try:
        (work / "reg").mkdir()
        reg = RegistryServer(str(work / "reg")).start()
        write_oci_layout(str(work / "bb"), busybox_layers())
        write_oci_layout(str(work / "fat"), fat_layers(args.layers, args.mb_per_layer))
        skopeo_copy(f"oci:{work / 'bb'}:latest", f"docker://{reg.host}/busybox:latest")
        skopeo_copy(f"oci:{work / 'fat'}:latest", f"docker://{reg.host}/fat:latest")
        sizes = {"busybox": _size(work / "bb"), "fat": _size(work / "fat")}
        tools = Tools(work)
        peers: Dict[str, Callable[[str], float]] = {"tke": tools.tke}
        if shutil.which("podman"):
            peers["podman"] = tools.podman
        if shutil.which("skopeo"):
            peers["skopeo (download only)"] = tools.skopeo
        if docker_available():
            peers["docker"] = tools.docker
        results: Dict[str, Dict[str, List[float]]] = {}
        cpu: Dict[str, Dict[str, List[float]]] = {}
        for image in ("busybox", "fat"):
            ref = f"{reg.host}/{image}:latest"
            for _ in range(args.repeat):  # interleaved, so machine load hits every tool alike
                for name, fn in peers.items():
                    results.setdefault(image, {}).setdefault(name, []).append(fn(ref))
                    cpu.setdefault(image, {}).setdefault(name, []).append(CPU[-1])
        report(results, cpu, sizes, args)
    finally:
        if reg is not None:
            reg.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


def _size(layout: Path) -> int:
    return sum(f.stat().st_size for f in (layout / "blobs" / "sha256").iterdir())


def report(results: dict, cpu: dict, sizes: dict, args) -> None:
    rows = []
    out = {
        "machine": platform.node(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "repeat": args.repeat,
        "compressed_bytes": sizes,
        "median_seconds": {},
        "median_cpu_seconds": {},
        "ratios": {},
        "runs": results,
    }
    for image, by_tool in results.items():
        medians = {tool: statistics.median(times) for tool, times in by_tool.items()}
        cpus = {tool: statistics.median(times) for tool, times in cpu[image].items()}
        out["median_seconds"][image] = medians
        out["median_cpu_seconds"][image] = cpus
        out["ratios"][image] = {
            f"tke/{tool}": round(medians["tke"] / t, 3)
            for tool, t in medians.items()
            if tool != "tke" and t > 0
        }
        for tool, median in medians.items():
            ratio = medians["tke"] / median if tool != "tke" else 1.0
            rows.append((image, tool, median, min(by_tool[tool]), ratio, cpus[tool]))
    print(f"{'image':<8} {'tool':<24} {'median s':>9} {'best s':>8} {'tke/tool':>9} {'cpu s':>7}")
    for image, tool, median, best, ratio, cpu_s in rows:
        print(f"{image:<8} {tool:<24} {median:>9.2f} {best:>8.2f} {ratio:>9.2f} {cpu_s:>7.2f}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(
        f"\nwritten {RESULTS}; compressed sizes: "
        + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items())
    )


if __name__ == "__main__":
    sys.exit(main())
