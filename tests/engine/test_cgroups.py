"""cgroups.mode: the layout found from two stats is the one /proc/self/mountinfo shows."""

from toolkit.engine import cgroups


def _fstypes() -> dict:
    found = {}
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            found[left.split()[4]] = right.split()[0]
    return found


def test_mode_matches_the_mount_table() -> None:
    types = _fstypes()
    if types.get("/sys/fs/cgroup") == "cgroup2":
        expected = "v2"
    elif types.get("/sys/fs/cgroup/unified") == "cgroup2":
        expected = "hybrid"
    else:
        expected = "v1"
    assert cgroups.mode() == expected


def test_mode_is_v1_where_no_cgroup2_is_mounted(tmp_path, monkeypatch) -> None:
    # a v1 host's /sys/fs/cgroup: controller hierarchies and an empty `unified` mount point
    for name in ("memory", "pids", "unified"):
        (tmp_path / name).mkdir()
    (tmp_path / "memory" / "cgroup.procs").write_text("")
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", str(tmp_path))
    monkeypatch.setattr(cgroups, "_MODE", [])
    assert cgroups.mode() == "v1"
    (tmp_path / "unified" / "cgroup.controllers").write_text("")
    monkeypatch.setattr(cgroups, "_MODE", [])
    assert cgroups.mode() == "hybrid"
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    monkeypatch.setattr(cgroups, "_MODE", [])
    assert cgroups.mode() == "v2"
