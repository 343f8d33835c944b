"""Host patterns and --limit: results and order as ansible-core 2.19 gives them.

The expected lists were taken from `ansible -i INV PATTERN --list-hosts [--limit L]`.
"""

import sys
from pathlib import Path

import pytest

from toolkit.inventory import Inventory

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "inventory"
ORDER = str(FIXTURES / "order" / "hosts.ini")
BASIC = str(FIXTURES / "ini_basic" / "hosts.ini")

SELECT = [
    (ORDER, "all", None, ["d1", "a1", "b1", "shared", "z1"]),
    (ORDER, "*", None, ["d1", "a1", "b1", "shared", "z1"]),
    (ORDER, "web", None, ["b1", "shared", "a1", "z1"]),
    (ORDER, "db:web", None, ["d1", "a1", "b1", "shared", "z1"]),
    (ORDER, "db,web", None, ["d1", "a1", "b1", "shared", "z1"]),
    (ORDER, "web:!db", None, ["b1", "shared", "z1"]),
    (ORDER, "web:&db", None, ["a1"]),
    (ORDER, "!db", None, ["b1", "shared", "z1"]),
    (ORDER, "web[0]", None, ["b1"]),
    (ORDER, "web[-1]", None, ["z1"]),
    (ORDER, "web[1:]", None, ["shared", "a1", "z1"]),
    (ORDER, "web[0:1]", None, ["b1", "shared"]),
    (ORDER, "web_*", None, ["b1", "shared", "a1", "z1"]),
    (ORDER, "*1", None, ["b1", "a1", "d1", "z1"]),
    (ORDER, "~[ab]1", None, ["b1", "a1"]),
    (ORDER, "nosuch,web_b", None, ["b1", "shared"]),
    (ORDER, "all", "db", ["d1", "a1"]),
    (ORDER, "web", "db", ["a1"]),
    (ORDER, "web", "!web_a", ["b1"]),
    (BASIC, "10.0.0.5", None, ["10.0.0.5"]),
    (BASIC, "2001:db8::1", None, ["2001:db8::1"]),
    (BASIC, "web[0:2]", None, ["web01.example.com", "web02.example.com", "web03.example.com"]),
    (
        BASIC,
        "*.example.com:&prod",
        None,
        ["web01.example.com", "web02.example.com", "web03.example.com"],
    ),
    (BASIC, "ungrouped", None, ["lonely", "alpha"]),
    (BASIC, "db*:!db5", None, ["pg1", "pg2", "db1", "db9"]),
]


@pytest.mark.parametrize("inventory,pattern,limit,expected", SELECT)
def test_select(inventory, pattern, limit, expected):
    assert Inventory.load([inventory]).select(pattern, limit) == expected


def test_limit_from_file(tmp_path):
    limit = tmp_path / "retry"
    limit.write_text("d1\nshared\n\n")
    inventory = Inventory.load([ORDER])
    assert inventory.select("all", limit=f"@{limit}") == ["d1", "shared"]
    assert inventory.select("web", limit=f"@{limit},z1") == ["shared", "z1"]


def test_implicit_localhost():
    inventory = Inventory.load([ORDER])
    assert inventory.select("localhost") == ["localhost"]
    assert "localhost" not in inventory.select("all")
    variables = inventory.host_vars("localhost")
    assert variables["ansible_connection"] == "local"
    assert variables["ansible_python_interpreter"] == sys.executable
    assert inventory.group_names("localhost") == []
    assert "localhost" not in inventory.groups_map()["all"]


def test_explicit_localhost_is_not_replaced(tmp_path):
    (tmp_path / "hosts").write_text("localhost ansible_connection=ssh\n")
    inventory = Inventory.load([str(tmp_path / "hosts")])
    assert inventory.select("localhost") == ["localhost"]
    assert inventory.host_vars("localhost")["ansible_connection"] == "ssh"


def test_empty_inventory_warns_like_ansible():
    inventory = Inventory.load(["/dev/null"])
    assert inventory.select("all") == []
    assert inventory.warnings == [
        "provided hosts list is empty, only localhost is available. "
        "Note that the implicit localhost does not match 'all'"
    ]
    assert Inventory.load(["/dev/null"]).select("localhost") == ["localhost"]


def test_unmatched_word_warns_and_is_ignored():
    inventory = Inventory.load([ORDER])
    assert inventory.select("nosuch:d1") == ["d1"]
    assert "Could not match supplied host pattern, ignoring: nosuch" in inventory.warnings


def test_on_warning_sees_select_time_warnings():
    inventory = Inventory.load([ORDER])
    seen = []
    inventory.on_warning = seen.append
    inventory.select("ghost")
    inventory.select("ghost")
    assert seen == ["Could not match supplied host pattern, ignoring: ghost"]
