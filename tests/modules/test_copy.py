"""The copy module run in-process: content, remote src files and trees, idempotence, check/diff."""

import os
import stat

from modules._utils.testing import run_module


def mode_of(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_content_creates_then_is_idempotent(tmp_path):
    dest = tmp_path / "motd"
    first = run_module("copy", {"content": "hello\n", "dest": str(dest), "mode": "0640"})
    assert first["changed"] is True and not first["failed"]
    assert dest.read_text() == "hello\n"
    assert mode_of(dest) == 0o640
    assert first["checksum"] == "f572d396fae9206628714fb2ce00f72e94f2258f"
    assert first["mode"] == "0640" and first["size"] == 6 and first["state"] == "file"
    assert first["owner"] == "root" and first["uid"] == 0
    second = run_module("copy", {"content": "hello\n", "dest": str(dest), "mode": "0640"})
    assert second["changed"] is False
    assert sorted(os.listdir(str(tmp_path))) == ["motd"]


def test_mode_change_alone_is_a_change(tmp_path):
    dest = tmp_path / "f"
    dest.write_text("x")
    os.chmod(str(dest), 0o644)
    result = run_module("copy", {"content": "x", "dest": str(dest), "mode": "u=rw,g=,o="})
    assert result["changed"] is True and mode_of(dest) == 0o600


def test_existing_file_keeps_its_mode_and_owner(tmp_path):
    dest = tmp_path / "f"
    dest.write_text("old")
    os.chmod(str(dest), 0o600)
    os.chown(str(dest), 65534, 65534)
    result = run_module("copy", {"content": "new", "dest": str(dest)})
    assert result["changed"] is True
    st = os.stat(str(dest))
    assert dest.read_text() == "new"
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 65534 and st.st_gid == 65534


def test_check_mode_predicts_and_touches_nothing(tmp_path):
    dest = tmp_path / "f"
    result = run_module("copy", {"content": "a", "dest": str(dest)}, check=True)
    assert result["changed"] is True and not dest.exists()
    dest.write_text("a")
    os.chmod(str(dest), 0o644)
    result = run_module("copy", {"content": "b", "dest": str(dest), "mode": "0600"}, check=True)
    assert result["changed"] is True
    assert dest.read_text() == "a" and mode_of(dest) == 0o644


def test_diff_mode_returns_before_and_after(tmp_path):
    dest = tmp_path / "f"
    dest.write_text("one\n")
    result = run_module("copy", {"content": "two\n", "dest": str(dest)}, diff=True)
    assert result["diff"]["before"] == "one\n" and result["diff"]["after"] == "two\n"
    assert result["diff"]["after_header"] == str(dest)
    result = run_module("copy", {"content": "two\n", "dest": str(dest)}, diff=True)
    assert result["changed"] is False and "diff" not in result


def test_diff_skips_binary_content(tmp_path):
    src = tmp_path / "bin"
    src.write_bytes(b"\x00\x01\xff" * 10)
    dest = tmp_path / "dest"
    args = {"src": str(src), "dest": str(dest), "remote_src": True}
    result = run_module("copy", args, diff=True)
    assert result["changed"] is True and "binary" in result["diff"]["after"]
    assert dest.read_bytes() == src.read_bytes()


def test_backup_keeps_the_old_file(tmp_path):
    dest = tmp_path / "conf"
    dest.write_text("old\n")
    result = run_module("copy", {"content": "new\n", "dest": str(dest), "backup": True})
    backup = result["backup_file"]
    assert os.path.dirname(backup) == str(tmp_path)
    assert os.path.basename(backup).startswith("conf.") and backup.endswith("~")
    assert open(backup).read() == "old\n" and dest.read_text() == "new\n"
    again = run_module("copy", {"content": "new\n", "dest": str(dest), "backup": True})
    assert again["changed"] is False and "backup_file" not in again


def test_validate_failure_leaves_dest_untouched(tmp_path):
    dest = tmp_path / "conf"
    dest.write_text("good\n")
    args = {"content": "bad\n", "dest": str(dest), "validate": "grep -q good %s"}
    result = run_module("copy", args)
    assert result["failed"] is True and result["msg"] == "failed to validate"
    assert result["exit_status"] == 1
    assert dest.read_text() == "good\n"
    assert os.listdir(str(tmp_path)) == ["conf"]
    ok = run_module("copy", dict(args, content="good again\n"))
    assert ok["changed"] is True and dest.read_text() == "good again\n"


def test_validate_needs_percent_s(tmp_path):
    args = {"content": "x", "dest": str(tmp_path / "f"), "validate": "true"}
    result = run_module("copy", args)
    assert result["failed"] and "%s" in result["msg"]


def test_force_no_keeps_existing_file(tmp_path):
    dest = tmp_path / "f"
    dest.write_text("mine")
    result = run_module("copy", {"content": "theirs", "dest": str(dest), "force": False})
    assert result["changed"] is False and dest.read_text() == "mine"


def test_dest_directory_gets_the_source_basename(tmp_path):
    src = tmp_path / "app.conf"
    src.write_text("x=1\n")
    target = tmp_path / "etc"
    target.mkdir()
    result = run_module("copy", {"src": str(src), "dest": str(target), "remote_src": True})
    assert result["dest"] == str(target / "app.conf")
    assert (target / "app.conf").read_text() == "x=1\n" and src.exists()


def test_trailing_slash_dest_is_created(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("a")
    dest = str(tmp_path / "new" / "dir") + "/"
    args = {"src": str(src), "dest": dest, "remote_src": True, "directory_mode": "0750"}
    result = run_module("copy", args)
    assert result["changed"] and (tmp_path / "new" / "dir" / "a.txt").read_text() == "a"
    assert mode_of(tmp_path / "new" / "dir") == 0o750


def test_missing_parent_directory_is_a_clear_error(tmp_path):
    result = run_module("copy", {"content": "x", "dest": str(tmp_path / "no" / "f")})
    assert result["failed"] and "Destination directory" in result["msg"]


def test_non_remote_src_is_consumed_like_a_transfer_temp(tmp_path):
    src = tmp_path / ".tk-transfer"
    src.write_text("payload")
    dest = tmp_path / "dest"
    result = run_module("copy", {"src": str(src), "dest": str(dest)})
    assert result["changed"] and dest.read_text() == "payload" and not src.exists()


def test_checksum_only_sets_attributes_when_content_matches(tmp_path):
    dest = tmp_path / "f"
    dest.write_text("same")
    os.chmod(str(dest), 0o644)
    checksum = run_module("copy", {"content": "same", "dest": str(dest)})["checksum"]
    result = run_module("copy", {"checksum": checksum, "dest": str(dest), "mode": "0600"})
    assert result["changed"] is True and mode_of(dest) == 0o600
    missing = run_module("copy", {"checksum": checksum, "dest": str(tmp_path / "g")}, check=True)
    assert missing["changed"] is True and not (tmp_path / "g").exists()


def test_remote_src_directory_tree(tmp_path):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a").write_text("A")
    (src / "sub" / "b").write_text("B")
    dest = tmp_path / "dest"
    dest.mkdir()
    result = run_module("copy", {"src": str(src) + "/", "dest": str(dest), "remote_src": True})
    assert result["changed"] is True
    assert (dest / "a").read_text() == "A" and (dest / "sub" / "b").read_text() == "B"
    again = run_module("copy", {"src": str(src) + "/", "dest": str(dest), "remote_src": True})
    assert again["changed"] is False
    nested = run_module("copy", {"src": str(src), "dest": str(dest), "remote_src": True})
    assert nested["changed"] is True and (dest / "src" / "sub" / "b").read_text() == "B"


def test_owner_and_group_by_name(tmp_path):
    dest = tmp_path / "f"
    args = {"content": "x", "dest": str(dest), "owner": "nobody", "group": "65534"}
    result = run_module("copy", args)
    assert result["owner"] == "nobody" and os.stat(str(dest)).st_gid == 65534
    assert run_module("copy", args)["changed"] is False


def test_bad_arguments_are_clear(tmp_path):
    result = run_module("copy", {"content": "x", "dets": str(tmp_path / "f")})
    assert result["failed"] and "dets" in result["msg"] and "'dest'" in result["msg"]
    both = run_module("copy", {"content": "x", "src": "/etc/hosts", "dest": str(tmp_path)})
    assert both["failed"] and "mutually exclusive" in both["msg"]
    bad_mode = run_module("copy", {"content": "x", "dest": str(tmp_path / "f"), "mode": "u+q"})
    assert bad_mode["failed"] and "mode" in bad_mode["msg"]
    assert not (tmp_path / "f").exists()
    unknown_user = run_module(
        "copy", {"content": "x", "dest": str(tmp_path / "g"), "owner": "no-such-user-tk"}
    )
    assert unknown_user["failed"] and "no-such-user-tk" in unknown_user["msg"]


def test_content_into_directory_is_refused(tmp_path):
    result = run_module("copy", {"content": "x", "dest": str(tmp_path)})
    assert result["failed"] and "content" in result["msg"]


def test_diff_of_large_files_is_summarised(tmp_path):
    dest = tmp_path / "big"
    dest.write_text("line\n" * 30000)
    result = run_module("copy", {"content": "small\n", "dest": str(dest)}, diff=True)
    assert "too large" in result["diff"]["before"] and result["diff"]["after"] == "small\n"
    checksum_only = run_module(
        "copy", {"checksum": "0" * 40, "dest": str(dest)}, check=True, diff=True
    )
    assert checksum_only["changed"] and "not sent" in checksum_only["diff"]["after"]
    assert "small" in checksum_only["diff"]["before"]


def test_check_mode_with_missing_parent_predicts_a_change(tmp_path):
    """An earlier task (skipped by --check) would make the directory: Ansible says changed."""
    dest = tmp_path / "no" / "f"
    for args in ({"content": "x"}, {"checksum": "0" * 40, "mode": "0600"}):
        result = run_module("copy", dict(args, dest=str(dest)), check=True, diff=True)
        assert not result["failed"] and result["changed"] is True, result
    assert not (tmp_path / "no").exists()


def test_check_mode_remote_src_with_missing_parent_fails_like_ansible(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("a")
    args = {"src": str(src), "dest": str(tmp_path / "no" / "f"), "remote_src": True}
    result = run_module("copy", args, check=True)
    assert result["failed"] and "Destination directory" in result["msg"]
