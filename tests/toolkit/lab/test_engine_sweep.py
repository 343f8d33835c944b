"""`tk lab down` with containers still running on a lab host: their processes die with the
host and their cgroups (the machine's, made by the OCI runtime) are removed too."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest

from toolkit.engine import cgroups

pytestmark = [
    pytest.mark.lab,
    pytest.mark.engine,
    pytest.mark.skipif(os.geteuid() != 0, reason="lab hosts need root"),
]
NAME = f"w{os.getpid()}"  # a letter no other lab of the test session uses
TKE = os.path.join(os.path.dirname(sys.executable), "tke")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
# the lab's root is the machine's, but with its own /tmp (where CI clones the repository)
BIND_REPO = f'mkdir -p "$1{REPO}" && mount --bind {REPO} "$1{REPO}"'
# a one-file image made on the host itself (busybox-static), then a container that stays up
ON_HOST = f"""
set -e
export TKE_BRIDGE=none
mkdir -p /tmp/bb/bin && cp /bin/busybox /tmp/bb/bin/
tar -C /tmp/bb -cf /tmp/bb.tar .
{TKE} import /tmp/bb.tar sweep/bb:1 >/dev/null
{TKE} run -d --network none sweep/bb:1 /bin/busybox sleep 300
"""


def test_down_removes_the_hosts_containers_and_their_cgroups(scratch_lab):
    state = scratch_lab.up(1, setup={f"{NAME}-1": BIND_REPO})
    host = state.hosts[0].name
    argv = ["ssh", "-F", scratch_lab.ssh_config, "-o", "BatchMode=yes", host]
    run = subprocess.run(
        argv + [f"sh -c {shlex.quote(ON_HOST)}"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip().splitlines()[-1]
    assert len(cid) == 64
    assert cgroups.leftover(cid), "the container's cgroups are the machine's"
    scratch_lab.down()
    assert cgroups.leftover(cid) == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "/bin/busybox sleep 300" not in ps
