"""Layer extraction safety (malicious tarballs), whiteouts, and the writer's round trip."""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest

from tests.engine.imagebuilder import TarBuilder
from toolkit.engine.layers import LayerError, extract, write_layer

pytestmark = pytest.mark.engine


def _pax_xattr(name: str, key: str, value: str) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = tarfile.DIRTYPE
    ti.mode = 0o755
    ti.pax_headers = {f"SCHILY.xattr.{key}": value}
    return ti


MALICIOUS = {
    "dotdot": lambda: TarBuilder().file("../escaped", b"x"),
    "dotdot-inner": lambda: TarBuilder().dir("a").file("a/../../escaped", b"x"),
    "dotdot-deep": lambda: TarBuilder().file("a/b/../../../escaped", b"x"),
    "symlink-dir-then-file": lambda: (
        TarBuilder().symlink("link", "{outside}").file("link/escaped", b"x")
    ),
    "relative-symlink-dir": lambda: (
        TarBuilder().symlink("up", "../../../..").file("up/{outside_rel}/escaped", b"x")
    ),
    "hardlink-outside": lambda: TarBuilder().hardlink("hl", "../outside-target"),
    "hardlink-absolute": lambda: TarBuilder().hardlink("hl", "{outside}/target"),
    "hardlink-through-symlink": lambda: (
        TarBuilder().symlink("link", "{outside}").hardlink("hl", "link/target")
    ),
    "symlink-then-dir-child": lambda: TarBuilder().symlink("d", "{outside}").dir("d/sub"),
    "whiteout-dotdot": lambda: TarBuilder().file("a/.wh...", b""),
    "whiteout-through-symlink": lambda: (
        TarBuilder().symlink("link", "{outside}").file("link/.wh.target", b"")
    ),
    "opaque-through-symlink": lambda: (
        TarBuilder().symlink("link", "{outside}").file("link/.wh..wh..opq", b"")
    ),
    "overlay-xattr": lambda: TarBuilder().raw(_pax_xattr("d", "trusted.overlay.redirect", "/x")),
    "not-a-tar": None,
}


@pytest.mark.parametrize("case", sorted(MALICIOUS))
def test_malicious_layer_rejected(case, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_text("keep")
    root = tmp_path / "a" / "b" / "root"
    root.mkdir(parents=True)
    before = sorted(os.listdir(outside)) + sorted(os.listdir(tmp_path))
    if MALICIOUS[case] is None:
        data = b"this is not a tar file at all" * 40
    else:
        tb = MALICIOUS[case]()
        data = tb.bytes()
        data = data.replace(b"{outside}", str(outside).encode())
        data = _fix(data, outside, root)
    with pytest.raises(LayerError) as info:
        extract(io.BytesIO(data), str(root))
    assert "layer" in str(info.value)
    assert sorted(os.listdir(outside)) + sorted(os.listdir(tmp_path)) == before
    assert (outside / "target").read_text() == "keep"
    assert not os.path.exists(tmp_path / "escaped")
    assert not os.path.exists(tmp_path / "a" / "escaped")


def _fix(data: bytes, outside, root) -> bytes:
    """Re-write templated names (placeholders change lengths, so rebuild the tar)."""
    if b"{" not in data:
        return data
    rel = os.path.relpath(outside, "/")
    src = tarfile.open(fileobj=io.BytesIO(data))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as dst:
        for m in src:
            m.name = m.name.replace("{outside}", str(outside)).replace("{outside_rel}", rel)
            m.linkname = m.linkname.replace("{outside}", str(outside))
            dst.addfile(m, src.extractfile(m) if m.isreg() else None)
    return out.getvalue()


def test_absolute_names_stay_inside(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    data = TarBuilder().file("/etc/abs", b"inside").symlink("/abslink", "/etc/passwd").bytes()
    extract(io.BytesIO(data), str(root))
    assert (root / "etc" / "abs").read_bytes() == b"inside"
    assert os.readlink(root / "abslink") == "/etc/passwd"


def test_file_replacing_symlink_does_not_follow(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("keep")
    root = tmp_path / "root"
    root.mkdir()
    data = TarBuilder().symlink("f", str(outside)).file("f", b"new").bytes()
    extract(io.BytesIO(data), str(root))
    assert outside.read_text() == "keep"
    assert (root / "f").read_bytes() == b"new" and not os.path.islink(root / "f")


def test_devices_skipped_when_unprivileged(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    data = (
        TarBuilder()
        .device("dev/sda", 8, 0, block=True)
        .device("dev/null", 1, 3)
        .file("ok", b"1")
        .bytes()
    )
    info = extract(io.BytesIO(data), str(root), privileged=False)
    assert not os.path.exists(root / "dev" / "sda")
    assert not os.path.exists(root / "dev" / "null")
    assert sorted(info["skipped"]) == ["dev/null", "dev/sda"]
    assert (root / "ok").read_bytes() == b"1"


def test_whiteouts_become_overlay_whiteouts(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    data = (
        TarBuilder()
        .dir("etc")
        .file("etc/.wh.gone")
        .dir("data")
        .file("data/.wh..wh..opq")
        .file("data/new", b"n")
        .bytes()
    )
    extract(io.BytesIO(data), str(root))
    st = os.lstat(root / "etc" / "gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(root / "data", "trusted.overlay.opaque") == b"y"
    assert not os.path.exists(root / "etc" / ".wh.gone")


def _snapshot(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            rel = os.path.relpath(full, root)
            entry = (
                stat.S_IFMT(st.st_mode),
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                int(st.st_mtime),
                st.st_rdev,
            )
            if stat.S_ISREG(st.st_mode):
                entry += (open(full, "rb").read(), st.st_nlink)
            if stat.S_ISLNK(st.st_mode):
                entry += (os.readlink(full),)
            xattrs = {
                k: os.getxattr(full, k, follow_symlinks=False)
                for k in os.listxattr(full, follow_symlinks=False)
            }
            out[rel] = entry + (tuple(sorted(xattrs.items())),)
    return out


def test_write_layer_roundtrip_and_determinism(tmp_path):
    src = tmp_path / "upper"
    (src / "etc").mkdir(parents=True)
    (src / "etc" / "conf").write_text("hello")
    os.chmod(src / "etc" / "conf", 0o640)
    os.chown(src / "etc" / "conf", 1000, 1001)
    (src / "bin").mkdir()
    (src / "bin" / "tool").write_bytes(b"\x7fELF" + bytes(5000))
    os.chmod(src / "bin" / "tool", 0o4755)
    os.link(src / "bin" / "tool", src / "bin" / "tool2")
    os.symlink("tool", src / "bin" / "alias")
    os.mknod(src / "etc" / "deleted", stat.S_IFCHR | 0o600, os.makedev(0, 0))
    (src / "opaque").mkdir()
    os.setxattr(src / "opaque", "trusted.overlay.opaque", b"y")
    (src / "opaque" / "inside").write_text("i")
    os.setxattr(src / "bin" / "tool", "user.note", b"kept")
    (src / "empty").mkdir(mode=0o711)
    os.mkfifo(src / "fifo")
    mtime = 1_600_000_000
    for dirpath, dirnames, filenames in os.walk(src, topdown=False):
        for name in filenames + dirnames:
            os.utime(os.path.join(dirpath, name), (mtime, mtime), follow_symlinks=False)
    first, second = io.BytesIO(), io.BytesIO()
    write_layer(str(src), first, mtime=mtime)
    write_layer(str(src), second, mtime=mtime)
    assert first.getvalue() == second.getvalue()
    names = tarfile.open(fileobj=io.BytesIO(first.getvalue())).getnames()
    assert names == [
        "bin",
        "bin/alias",
        "bin/tool",
        "bin/tool2",
        "empty",
        "etc",
        "etc/conf",
        "etc/.wh.deleted",
        "fifo",
        "opaque",
        "opaque/.wh..wh..opq",
        "opaque/inside",
    ]
    dest = tmp_path / "extracted"
    dest.mkdir()
    first.seek(0)
    extract(first, str(dest))
    os.utime(dest, (mtime, mtime))
    assert _snapshot(dest) == _snapshot(src)


def test_dir_replaced_by_symlink_gets_no_chmod_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.chmod(outside, 0o700)
    root = tmp_path / "root"
    root.mkdir()
    data = TarBuilder().dir("d", 0o777).symlink("d", str(outside)).bytes()
    extract(io.BytesIO(data), str(root))
    assert stat.S_IMODE(os.stat(outside).st_mode) == 0o700
    assert os.readlink(root / "d") == str(outside)


def test_read_only_dir_still_gets_children(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    data = TarBuilder().dir("ro", 0o555).file("ro/f", b"x").bytes()
    extract(io.BytesIO(data), str(root), privileged=False)
    assert (root / "ro" / "f").read_bytes() == b"x"
    assert stat.S_IMODE(os.stat(root / "ro").st_mode) == 0o555
