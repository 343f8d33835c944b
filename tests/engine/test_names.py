"""Container names through the name index (RUN_DIR/names): conflicts on create, run and rename,
lookup by name, names freed by rm and rename, the index rebuilt from the records after a
reboot (its tmpfs emptied), and links that point at nothing or at a renamed container count for
nothing."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.engine.ctrhelpers import ctr_runc_fixture  # noqa: F401 - provides `ctr_runc`
from toolkit.engine.containers import run_dir_for

pytestmark = [pytest.mark.engine]


def names_dir(ctr) -> str:
    return os.path.join(run_dir_for(ctr.root), "names")


def test_names_stay_unique_through_create_rename_and_rm(ctr_runc):
    ctr = ctr_runc
    first = ctr.ok("create", "--name", "web", ctr.image, "true").strip()
    r = ctr.run("run", "--rm", "--name", "web", ctr.image, "true")
    assert r.returncode == 125 and f'already in use by container "{first}"' in r.stderr
    ctr.ok("rename", "web", "web2")
    assert ctr.ok("inspect", "-f", "{{.Id}}", "web2").strip() == first
    second = ctr.ok("create", "--name", "web", ctr.image, "true").strip()  # "web" is free
    r = ctr.run("rename", "web", "web2")
    assert r.returncode == 1 and f'in use by container "{first}"' in r.stderr
    ctr.ok("rm", "web2")
    assert ctr.run("inspect", "web2").returncode == 1
    third = ctr.ok("create", "--name", "web2", ctr.image, "true").strip()
    assert len({first, second, third}) == 3
    assert ctr.ok("run", "--rm", "--name", "once", ctr.image, "echo", "hi") == "hi\n"
    assert not os.path.lexists(os.path.join(names_dir(ctr), "once"))
    ctr.ok("rm", second, third)


def test_index_is_rebuilt_after_a_reboot(ctr_runc):
    ctr = ctr_runc
    cid = ctr.ok("create", "--name", "kept", ctr.image, "true").strip()
    shutil.rmtree(names_dir(ctr))  # what a reboot does to the run directory
    assert ctr.ok("inspect", "-f", "{{.Id}}", "kept").strip() == cid  # found without it
    r = ctr.run("create", "--name", "kept", ctr.image, "true")
    assert r.returncode == 125 and cid in r.stderr
    assert os.readlink(os.path.join(names_dir(ctr), "kept")) == cid
    ctr.ok("rm", "kept")


def test_links_to_nothing_count_for_nothing(ctr_runc):
    """A crash between claiming a name and writing the record leaves a link to a container that
    does not exist; one between a rename's record and its unlink leaves a link to a container
    that has another name. Neither blocks the name."""
    ctr = ctr_runc
    cid = ctr.ok("create", "--name", "real", ctr.image, "true").strip()
    folder = names_dir(ctr)
    os.symlink("0" * 64, os.path.join(folder, "ghost"))
    os.symlink(cid, os.path.join(folder, "old-name"))
    for name in ("ghost", "old-name"):
        assert ctr.run("inspect", name).returncode == 1
        made = ctr.ok("create", "--name", name, ctr.image, "true").strip()
        assert os.readlink(os.path.join(folder, name)) == made
        ctr.ok("rm", name)
    ctr.ok("rm", cid)
