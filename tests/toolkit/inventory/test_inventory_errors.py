"""Every malformed inventory gives one InventoryError naming the file, line (and column)."""

import os

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory import Inventory

# (file name, content, expected message fragment, expected line, expected column or None)
MALFORMED = [
    ("hosts.ini", "[web]\nw1\n[web servers]\n", "invalid section header '[web servers]'", 3, 1),
    ("hosts.ini", "[web]\nw1\n[web:child]\nx\n", "section [web:child] has unknown type", 3, 6),
    ("hosts.ini", "[web]\nweb[1:x]\n", "host range [1:x] in 'web[1:x]' must be numbers", 2, None),
    ("hosts.ini", "web[01:100]\n", "must have equal-length begin and end", 1, None),
    (
        "hosts.ini",
        "\n\nweb[5:1]\n",
        "host range [5:1] in 'web[5:1]' must have begin <= end",
        3,
        None,
    ),
    ("hosts.ini", "web[1:3:0]\n", "step in 'web[1:3:0]' must be a positive number", 1, None),
    (
        "hosts.ini",
        "[web]\nh1 ansible_user\n",
        "expected key=value host variable, got 'ansible_user'",
        2,
        None,
    ),
    (
        "hosts.ini",
        "[web]\nh1\n[web:vars]\nport 80\n",
        "expected key=value in a [:vars] section",
        4,
        None,
    ),
    (
        "hosts.ini",
        'h1 a="open\n',
        "cannot parse host line 'h1 a=\"open': No closing quotation",
        1,
        None,
    ),
    (
        "hosts.ini",
        "[a:children]\nb\n[b:children]\na\n",
        "adding group 'a' as a child of 'b' makes a cycle",
        4,
        None,
    ),
    (
        "hosts.ini",
        "[a]\nh\n[a:children]\nghost\n",
        "section [a:children] includes undefined group 'ghost'",
        4,
        None,
    ),
    (
        "hosts.ini",
        "[a]\nh\n\n[nogroup:vars]\nx=1\n",
        "section [nogroup:vars] is for a group that is never defined",
        4,
        None,
    ),
    (
        "hosts.ini",
        "[a]\nhost1:\n",
        "invalid host 'host1:': a trailing ':' must be followed by a port",
        2,
        None,
    ),
    (
        "hosts.ini",
        "[a:children]\nweb extra\n",
        "expected a group name in a [:children] section",
        2,
        None,
    ),
    (
        "hosts.yml",
        "web:\n  hosts:\n    - a\n    - b\n",
        "'hosts' of group 'web' must be a mapping, got a list",
        3,
        5,
    ),
    (
        "hosts.yml",
        "- web\n- db\n",
        "a YAML inventory must be a mapping of group names, got a list",
        1,
        1,
    ),
    # the file ends inside the list: the error points at its unclosed '['
    ("hosts.yml", "web:\n  hosts:\n    a: [1\n", "YAML syntax error", 3, 8),
    (
        "hosts.yml",
        "web:\n  hosts:\n    a: just-a-string\n",
        "variables of host 'a' must be a mapping, got a string",
        3,
        8,
    ),
    (
        "hosts.yml",
        "web:\n  children:\n    db:\n      children:\n        web:\n",
        "adding group 'db' as a child of 'web' makes a cycle",
        3,
        5,
    ),
    (
        "hosts.yml",
        "web:\n  hosts:\n    12:\n",
        "host name 12 must be a string (quote numbers)",
        3,
        5,
    ),
    (
        "hosts.yml",
        "web: [a, b]\n",
        "group 'web' must be a mapping with hosts/vars/children, got a list",
        1,
        6,
    ),
    (
        "hosts.yml",
        "web:\n  vars: 3\n",
        "'vars' of group 'web' must be a mapping, got a number",
        2,
        3,
    ),
    ("hosts.yml", "web:\n  hosts:\n    a:\n    a:\n", "duplicate key 'a'", 4, 5),
    (
        "hosts.yml",
        "plugin: aws_ec2\n",
        "inventory plugin configuration files are not supported",
        1,
        1,
    ),
]


@pytest.mark.parametrize(
    "name,content,message,line,col", MALFORMED, ids=[m[2][:40] for m in MALFORMED]
)
def test_malformed_inventory(tmp_path, name, content, message, line, col):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InventoryError) as caught:
        Inventory.load([str(path)])
    error = caught.value
    assert message in error.message
    assert error.location is not None
    assert error.location.path == str(path)
    assert error.location.line == line
    if col is not None:
        assert error.location.col == col
    assert "Traceback" not in error.render()
    assert f"in {path}:{line}" in error.render()


def test_invalid_utf8_names_the_line(tmp_path):
    path = tmp_path / "hosts"
    path.write_bytes(b"[web]\nw1\nw\xff2\n")
    with pytest.raises(InventoryError) as caught:
        Inventory.load([str(path)])
    assert caught.value.message == "inventory file is not valid UTF-8"
    assert (caught.value.location.path, caught.value.location.line) == (str(path), 3)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path):
    path = tmp_path / "hosts.ini"
    path.write_text("h1\n")
    path.chmod(0)
    with pytest.raises(InventoryError, match="cannot read inventory file: Permission denied"):
        Inventory.load([str(path)])


def test_missing_source_suggests_a_host_list(tmp_path):
    with pytest.raises(InventoryError) as caught:
        Inventory.load(["myhost"])
    assert caught.value.message == "inventory source not found: myhost"
    assert caught.value.hint == "for a single host, write 'myhost,'"


def test_group_vars_file_with_a_list(tmp_path):
    (tmp_path / "hosts.ini").write_text("[web]\nw1\n")
    (tmp_path / "group_vars").mkdir()
    bad = tmp_path / "group_vars" / "web.yml"
    bad.write_text("# comment\n- a\n- b\n")
    inventory = Inventory.load([str(tmp_path / "hosts.ini")])
    with pytest.raises(InventoryError) as caught:
        inventory.host_vars("w1")
    assert (
        "a variables file must hold a mapping of names to values, got a list"
        in caught.value.message
    )
    assert str(caught.value.location) == f"{bad}:2:1"


def test_host_vars_file_with_bad_yaml(tmp_path):
    (tmp_path / "hosts.ini").write_text("w1\n")
    (tmp_path / "host_vars").mkdir()
    bad = tmp_path / "host_vars" / "w1.yml"
    bad.write_text("a: 1\nb: [2\n")
    inventory = Inventory.load([str(tmp_path / "hosts.ini")])
    with pytest.raises(InventoryError) as caught:
        inventory.host_vars("w1")
    assert caught.value.message.startswith("YAML syntax error")
    assert caught.value.location.path == str(bad)
    assert caught.value.location.line == 2  # the unclosed '['


@pytest.fixture
def small():
    return Inventory.load(["w1,w2,db1,"])


def test_bad_regex_pattern(small):
    with pytest.raises(InventoryError, match=r"invalid host pattern '~w\(': missing \)"):
        small.select("~w(")


def test_limit_that_matches_nothing(small):
    with pytest.raises(InventoryError, match="--limit 'nosuch' matches no hosts"):
        small.select("all", limit="nosuch")


def test_limit_file_missing(small, tmp_path):
    with pytest.raises(InventoryError, match="limit file not found: .*/absent"):
        small.select("all", limit=f"@{tmp_path}/absent")


def test_subscript_out_of_range(small):
    with pytest.raises(
        InventoryError, match=r"no hosts matched the subscripted pattern 'all\[7\]'"
    ):
        small.select("all[7]")


def test_dash_subscript_is_refused(small):
    with pytest.raises(InventoryError, match=r"use an inclusive \[x:y\] subscript"):
        small.select("all[0-1]")


@pytest.mark.parametrize(
    "content",
    [
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\xff\xfe[web]\nw1\n",  # NUL bytes
        bytes(range(1, 32)) * 4 + b"\xff\xfe\x80",  # no NUL: control bytes, not UTF-8
    ],
)
def test_binary_file_is_not_dumped(tmp_path, content):
    path = tmp_path / "hosts"
    path.write_bytes(content)
    with pytest.raises(InventoryError) as caught:
        Inventory.load([str(path)])
    error = caught.value
    assert error.message == "inventory file is not a text file"
    assert error.location.path == str(path) and not error.location.line
    assert all(ch.isprintable() or ch in "\n" for ch in error.render()), error.render()


def test_latin1_text_still_names_the_line(tmp_path):
    path = tmp_path / "hosts"
    path.write_bytes(b"[web]\nw1 owner=Jos\xe9\n")
    with pytest.raises(InventoryError) as caught:
        Inventory.load([str(path)])
    assert caught.value.message == "inventory file is not valid UTF-8"
    assert caught.value.location.line == 2
