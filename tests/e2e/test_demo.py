"""The README's main command, as a user runs it: `bash scripts/demo.sh` sets up, makes three
lab hosts, runs playbooks/site.yml twice (the second run changes nothing) with the app in a
container on every host (tke shipped by the controller, the page fetched through the
published port), and leaves nothing behind: no lab, no container cgroup, no bridge on this
machine."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.lab,
    pytest.mark.engine,
    pytest.mark.skipif(os.geteuid() != 0, reason="lab hosts need root"),
]


def tke_cgroups() -> set:
    found = set()
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        if os.path.basename(root) == "tke":
            found |= {d for d in dirs if len(d) == 64}
            dirs.clear()
    return found


def test_demo_runs_twice_and_leaves_nothing(tmp_path):
    before = tke_cgroups()
    env = dict(os.environ, TK_LAB_ROOT=str(tmp_path / "labs"))
    proc = subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    first, second = proc.stdout.split("== second run")
    recaps = re.findall(r"^(demo-\d)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0",
                        second, re.M)  # fmt: skip
    assert sorted(recaps) == [("demo-1", "0"), ("demo-2", "0"), ("demo-3", "0")]
    for host in ("demo-1", "demo-2", "demo-3"):
        assert re.search(rf"TASK \[The app runs, published on the app port\][^\n]*\n"
                         rf"(?:.*\n)*?changed: \[{host}\]", first), host  # fmt: skip
    assert "Each host serves its own page" in first and "FAILED" not in proc.stdout
    assert not (tmp_path / "labs" / "demo").exists()  # the lab is gone
    assert tke_cgroups() <= before  # the hosts' containers went with them
    link = subprocess.run(["ip", "link", "show", "tke0"], capture_output=True, text=True)
    assert link.returncode != 0  # their bridges lived in the hosts' network namespaces
