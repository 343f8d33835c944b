"""Argument validation and result shape of modules._utils.module."""

import pytest

from modules._utils.checks import ModuleFailed, to_bool
from modules._utils.module import execute, validate

SPEC = {
    "path": {"type": "path", "required": True, "aliases": ["dest", "name"]},
    "state": {"type": "str", "choices": ["file", "absent", "link"], "default": "file"},
    "count": {"type": "int"},
    "ratio": {"type": "float"},
    "force": {"type": "bool", "default": False},
    "items": {"type": "list", "elements": "int"},
    "opts": {"type": "dict"},
    "size": {"type": "bytes"},
    "password": {"type": "str", "no_log": True},
    "src": {"type": "str"},
    "content": {"type": "str"},
    "user": {"type": "str"},
    "group": {"type": "str"},
    "ports": {
        "type": "list",
        "elements": "dict",
        "options": {
            "port": {"type": "int", "required": True},
            "proto": {"type": "str", "default": "tcp", "choices": ["tcp", "udp"]},
        },
    },
}


def check(args, **rules):
    return validate(SPEC, args, **rules)[0]


def test_types_defaults_and_aliases():
    params = check(
        {
            "dest": "~/x",
            "count": "3",
            "ratio": "0.5",
            "force": "yes",
            "items": "1, 2,3",
            "opts": "a=1 b='two words'",
            "size": "10M",
        }
    )
    assert params["path"].endswith("/x") and not params["path"].startswith("~")
    assert params["count"] == 3 and params["ratio"] == 0.5 and params["force"] is True
    assert params["items"] == [1, 2, 3]
    assert params["opts"] == {"a": "1", "b": "two words"}
    assert params["size"] == 10 * 1024 * 1024
    assert params["state"] == "file" and params["src"] is None


@pytest.mark.parametrize(
    "text,value",
    [
        ("yes", True),
        ("On", True),
        ("1", True),
        (1, True),
        ("t", True),
        ("no", False),
        ("off", False),
        ("0", False),
        ("False", False),
        ("n", False),
        (0, False),
    ],
)
def test_ansible_booleans(text, value):
    assert to_bool(text) is value


def test_bad_bool_names_the_argument():
    with pytest.raises(ModuleFailed, match="force"):
        check({"path": "/x", "force": "maybe"})


def test_bad_int():
    with pytest.raises(ModuleFailed, match="'count'.*int"):
        check({"path": "/x", "count": "three"})


def test_choices():
    with pytest.raises(
        ModuleFailed, match="value of state must be one of: file, absent, link, got: gone"
    ):
        check({"path": "/x", "state": "gone"})


def test_unknown_argument_names_closest():
    with pytest.raises(ModuleFailed) as info:
        check({"path": "/x", "stat": "file"})
    assert "Unsupported parameters" in info.value.msg and "Did you mean 'state'?" in info.value.msg


def test_required_missing():
    with pytest.raises(ModuleFailed, match="missing required arguments: path"):
        check({})


def test_alias_conflict():
    with pytest.raises(ModuleFailed, match="mutually exclusive: path|dest"):
        check({"path": "/a", "dest": "/b"})


def test_mutually_exclusive_and_required_one_of():
    with pytest.raises(ModuleFailed, match="mutually exclusive: content|src"):
        check({"path": "/x", "src": "a", "content": "b"}, mutually_exclusive=[["content", "src"]])
    with pytest.raises(ModuleFailed, match="one of the following is required: content, src"):
        check({"path": "/x"}, required_one_of=[["content", "src"]])


def test_required_if_sees_defaults_and_any_of():
    rule = [["state", "link", ["src"]]]
    assert check({"path": "/x"}, required_if=rule)["src"] is None
    with pytest.raises(
        ModuleFailed, match="state is link but all of the following are missing: src"
    ):
        check({"path": "/x", "state": "link"}, required_if=rule)
    anyrule = [["state", "file", ["src", "content"], True]]
    with pytest.raises(ModuleFailed, match="any of"):
        check({"path": "/x"}, required_if=anyrule)
    check({"path": "/x", "content": "c"}, required_if=anyrule)


def test_required_together():
    with pytest.raises(ModuleFailed, match="required together: user, group"):
        check({"path": "/x", "user": "u"}, required_together=[["user", "group"]])


def test_suboptions():
    params = check({"path": "/x", "ports": [{"port": "80"}, {"port": 53, "proto": "udp"}]})
    assert params["ports"] == [{"port": 80, "proto": "tcp"}, {"port": 53, "proto": "udp"}]
    with pytest.raises(ModuleFailed, match="prot.*ports"):
        check({"path": "/x", "ports": [{"port": 1, "prot": "udp"}]})


class FakeModule:
    ARGUMENT_SPEC = SPEC
    SUPPORTS_CHECK_MODE = True
    FREE_FORM = "content"

    @staticmethod
    def main(module):
        if module.params["state"] == "absent":
            module.fail("cannot remove", path=module.params["path"])
        module.warn("careful")
        return {
            "changed": True,
            "echo": "secret is " + str(module.params["password"]),
            "diff": {"before": "", "after": "x"},
            "check": module.check_mode,
        }


def test_execute_masks_no_log_and_collects_warnings():
    result = execute(FakeModule, {"path": "/x", "password": "hunter2"}, name="fake")
    assert result["echo"] == "secret is ********"
    assert result["changed"] is True and result["failed"] is False
    assert result["warnings"] == ["careful"]
    assert "diff" not in result
    assert execute(FakeModule, {"path": "/x"}, diff=True, check=True)["diff"]["after"] == "x"


def test_execute_fail_and_free_form():
    result = execute(FakeModule, {"path": "/x", "state": "absent"})
    assert result == {"failed": True, "msg": "cannot remove", "path": "/x", "changed": False}
    assert execute(FakeModule, {"path": "/x", "_raw_params": "hi"})["failed"] is False


def test_execute_reports_argument_errors_as_failures():
    result = execute(FakeModule, {"path": "/x", "forse": True}, name="fake")
    assert result["failed"] and "Did you mean 'force'" in result["msg"]


def test_check_mode_unsupported_skips():
    class NoCheck:
        ARGUMENT_SPEC = {}

        @staticmethod
        def main(module):
            raise AssertionError("must not run")

    result = execute(NoCheck, {}, check=True, name="nocheck")
    assert result["skipped"] and "does not support check mode" in result["msg"]
