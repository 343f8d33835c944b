"""Installing the engine bundle on a host (modules/_utils/tkeship.py) from the controller's
archive (toolkit/enginebundle.py), in a scratch BASE: the install runs tke with nothing but
its own directory and the stdlib; a second install is a no-op; truncated, tampered or padded
archives are refused with nothing left; a foreign directory of the same name and interrupted
installs are replaced; concurrent installs install once."""

from __future__ import annotations

import io
import multiprocessing
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from modules._utils import tkeship
from toolkit.enginebundle import engine_bundle

BUNDLE = engine_bundle()


def ship(base: Path) -> dict:
    return {"digest": BUNDLE.digest, "version": BUNDLE.version, "base": str(base)}


def upload(base: Path, data: bytes = b"") -> str:
    path = tkeship.upload_path(ship(base))
    Path(path).write_bytes(data or BUNDLE.archive())
    return path


def archive_with(files: dict) -> bytes:
    """A tar.gz of {name: bytes} (to build broken archives)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def listing(base: Path) -> list:
    return sorted(os.listdir(base))


def test_installed_engine_runs_from_its_directory_alone(tmp_path: Path) -> None:
    dest = tkeship.engine_dir(ship(tmp_path))
    assert dest == f"{tmp_path}/{BUNDLE.version}-{BUNDLE.digest[:16]}"
    assert not tkeship.installed(dest, BUNDLE.digest)
    archive = upload(tmp_path)
    assert tkeship.install(archive, dest, BUNDLE.digest) is True
    assert tkeship.installed(dest, BUNDLE.digest)
    assert listing(tmp_path) == [".lock", os.path.basename(dest)]  # the upload is gone
    assert Path(dest, "ENTRY").read_text() == "toolkit.engine.entry:main\n"

    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "TKE_ROOT": str(tmp_path / "store")}
    out = subprocess.run(
        [*tkeship.launcher_argv(dest), "version", "-f", "{{.Server.Version}}"],
        env=env, cwd="/", capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.strip() == BUNDLE.version
    # run by its #! line as well; a PYTHONPATH that shadows the stdlib does not reach it (-IS)
    trap = tmp_path / "trap"
    trap.mkdir()
    for name in ("argparse", "json", "platform"):
        (trap / f"{name}.py").write_text("raise SystemExit('imported from PYTHONPATH')\n")
    direct = subprocess.run(
        [f"{dest}/bin/tke", "version", "-f", "{{.Server.Version}}"],
        env=dict(env, PYTHONPATH=str(trap)), cwd="/", capture_output=True, text=True,
    )  # fmt: skip
    assert (direct.returncode, direct.stdout.strip()) == (0, BUNDLE.version), direct.stderr
    # every engine module imports with only the install's lib/ and the stdlib (-I -S)
    code = (
        "import os, sys, importlib; sys.path.insert(0, sys.argv[1]); d = sys.argv[1] +"
        " '/toolkit/engine'; [importlib.import_module('toolkit.engine.' + n[:-3]) for n in"
        " sorted(os.listdir(d)) if n.endswith('.py')]; import pyroute2;"
        " print(pyroute2.__file__)"
    )
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", code, f"{dest}/lib"], cwd="/",
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{dest}/lib/pyroute2/")


def test_second_install_changes_nothing(tmp_path: Path) -> None:
    dest = tkeship.engine_dir(ship(tmp_path))
    tkeship.install(upload(tmp_path), dest, BUNDLE.digest)
    stamp = os.stat(f"{dest}/INSTALLED")
    assert tkeship.install(upload(tmp_path), dest, BUNDLE.digest) is False
    assert os.stat(f"{dest}/INSTALLED").st_ino == stamp.st_ino
    assert listing(tmp_path) == [".lock", os.path.basename(dest)]


@pytest.mark.parametrize(
    "case, message",
    [
        ("truncated", "not a complete tke engine archive"),
        ("tampered", "lib/toolkit/errors.py does not match its checksum"),
        ("padded", "its files do not match its MANIFEST"),
        ("other", "its MANIFEST is not the engine"),
        ("escaping", "unsafe path '../evil'"),
    ],
)
def test_broken_archives_are_refused(tmp_path: Path, case: str, message: str) -> None:
    files = {"MANIFEST": BUNDLE.manifest, **BUNDLE.files}
    data = {
        "truncated": lambda: BUNDLE.archive()[: len(BUNDLE.archive()) // 2],
        "tampered": lambda: archive_with({**files, "lib/toolkit/errors.py": b"raise SystemExit"}),
        "padded": lambda: archive_with({**files, "lib/extra.py": b""}),
        "other": lambda: archive_with({**files, "MANIFEST": b"0  lib/x\n"}),
        "escaping": lambda: archive_with({"../evil": b"x"}),
    }[case]()
    dest = tkeship.engine_dir(ship(tmp_path))
    archive = upload(tmp_path, data)
    with pytest.raises(tkeship.InstallError) as caught:
        tkeship.install(archive, dest, BUNDLE.digest)
    assert str(caught.value).startswith(archive) and message in str(caught.value)
    assert listing(tmp_path) == [".lock"]  # no engine, no temp dir, no upload


def test_foreign_directory_and_interrupted_installs_are_replaced(tmp_path: Path) -> None:
    dest = tkeship.engine_dir(ship(tmp_path))
    os.makedirs(f"{dest}/lib")
    Path(dest, "lib", "sentinel").write_text("not ours")  # no INSTALLED: never used
    os.makedirs(tmp_path / ".tmp-deadbeef-1" / "lib")  # an install that was killed
    old = tmp_path / ".upload-old.tar.gz"
    old.write_bytes(b"abandoned")
    os.utime(old, (time.time() - 2 * tkeship.STALE_UPLOAD,) * 2)
    recent = tmp_path / ".upload-recent.tar.gz"  # another controller's, about to be used
    recent.write_bytes(b"in flight")
    assert tkeship.install(upload(tmp_path), dest, BUNDLE.digest) is True
    assert not os.path.exists(f"{dest}/lib/sentinel") and tkeship.installed(dest, BUNDLE.digest)
    assert listing(tmp_path) == sorted([".lock", os.path.basename(dest), recent.name])


def _install_in_child(base: str, queue) -> None:
    path = Path(base)
    queue.put(tkeship.install(upload(path), tkeship.engine_dir(ship(path)), BUNDLE.digest))


def test_concurrent_installs_install_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [
        context.Process(target=_install_in_child, args=(str(tmp_path), queue)) for _ in range(3)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
    assert sorted(queue.get(timeout=5) for _ in children) == [False, False, True]
    dest = tkeship.engine_dir(ship(tmp_path))
    assert tkeship.installed(dest, BUNDLE.digest)
    assert listing(tmp_path) == [".lock", os.path.basename(dest)]


def old_version(base: Path, name: str, used_ago: float) -> Path:
    """An earlier engine's directory, last used `used_ago` seconds ago."""
    path = base / name
    (path / "lib" / "toolkit").mkdir(parents=True)
    (path / "INSTALLED").write_text("0" * 64 + "\n")
    (path / "USED").write_text("")
    for stamp in ("INSTALLED", "USED"):
        os.utime(path / stamp, (time.time() - used_ago,) * 2)
    return path


def test_an_install_removes_the_versions_nothing_uses(tmp_path: Path, monkeypatch) -> None:
    base = tmp_path / "base"
    base.mkdir()
    units = tmp_path / "units"
    units.mkdir()
    monkeypatch.setattr(tkeship, "UNIT_DIRS", (str(units), str(tmp_path / "absent")))
    hour = tkeship.UNUSED_FOR
    unused = old_version(base, "0.0.1-" + "a" * 16, 3 * hour)
    recent = old_version(base, "0.0.2-" + "b" * 16, hour / 2)  # a task ran it lately
    running = old_version(base, "0.0.3-" + "c" * 16, 3 * hour)  # a shim of it is alive
    booted = old_version(base, "0.0.4-" + "d" * 16, 3 * hour)  # the boot unit runs it
    (units / "tke.service").write_text(f"[Service]\nExecStart={booted}/bin/tke system service\n")
    dropped = old_version(base, "0.0.6-" + "0" * 16, 3 * hour)  # a drop-in runs it
    (units / "tke.service.d").mkdir()
    (units / "tke.service.d" / "override.conf").write_text(
        f"[Service]\nExecStart=\nExecStart={dropped}/bin/tke system service\n"
    )
    prefix = old_version(base, "0.0.5-" + "e" * 16, 3 * hour)  # only a longer name is in use
    odd = base / "notes"  # not a version's name: not ours to judge
    odd.mkdir()
    shim = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; time.sleep(60)", f"{running}/lib/toolkit/engine",
         f"{prefix}0/lib"],
        env=dict(os.environ, PYTHONPATH=f"{tmp_path}/elsewhere"),
    )  # fmt: skip
    try:
        dest = tkeship.engine_dir(ship(base))
        assert tkeship.install(upload(base), dest, BUNDLE.digest) is True
    finally:
        shim.kill()
        shim.wait()
    kept = [os.path.basename(dest), recent.name, running.name, booted.name, dropped.name, odd.name]
    assert listing(base) == sorted([".lock", *kept])
    assert not unused.exists() and not prefix.exists()
    # a second install of the same version removes nothing more (nothing is installed)
    assert tkeship.install(upload(base), dest, BUNDLE.digest) is False
    assert listing(base) == sorted([".lock", *kept])


def test_an_old_version_named_in_a_process_environment_is_kept(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    cleanup = old_version(base, "0.0.1-" + "f" * 16, 3 * tkeship.UNUSED_FOR)
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env=dict(os.environ, PYTHONPATH=f"{cleanup}/lib"),
    )  # the shim's cleanup: `python -m toolkit.engine.containers` with the engine's lib
    try:
        dest = tkeship.engine_dir(ship(base))
        assert tkeship.install(upload(base), dest, BUNDLE.digest) is True
        assert cleanup.exists()
    finally:
        proc.kill()
        proc.wait()


def test_mark_used_renews_the_stamp_at_most_every_quarter_period(tmp_path: Path) -> None:
    path = tmp_path / "engine"
    path.mkdir()
    tkeship.mark_used(str(path))
    first = os.stat(path / "USED").st_mtime
    assert time.time() - first < 60
    tkeship.mark_used(str(path))
    assert os.stat(path / "USED").st_mtime == first  # fresh: not written again
    stale = time.time() - tkeship.UNUSED_FOR / 2
    os.utime(path / "USED", (stale, stale))
    tkeship.mark_used(str(path))
    assert time.time() - os.stat(path / "USED").st_mtime < 60
