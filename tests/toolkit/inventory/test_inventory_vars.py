"""Variable precedence, vars directories, and the API the executor uses (add_host, group_by)."""

import time
from pathlib import Path

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory import Inventory

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "inventory"
VARS_DIRS = str(FIXTURES / "vars_dirs" / "inventory.ini")


def test_precedence_inventory_files_and_vars_dirs():
    inventory = Inventory.load([VARS_DIRS])
    h1 = inventory.host_vars("h1")
    # group_vars/web/ (a.yml then b.yaml then sub/c.json) beat every inventory-file group var
    assert h1["level"] == "web-files-a"
    assert h1["merged"] == "from-b"
    assert h1["json_var"] == [1, 2, 3]
    assert h1["only_all"] == 1
    assert h1["from_ini"] == "yes"
    # host_vars/h1 beats the inline host var
    assert h1["inline"] == "host-file"
    assert "hidden" not in h1 and "not" not in h1
    # the deeper group (canary) wins over its parent; extension-less file found first
    h3 = inventory.host_vars("h3")
    assert h3["level"] == "canary-files"
    assert "shadowed" not in h3
    assert h3["host_only"] == 3
    # ansible_group_priority orders groups of the same depth
    assert inventory.host_vars("h2")["level"] == "other-files"
    assert inventory.groups["other"].priority == 10
    assert inventory.group_names("h3") == ["canary", "web"]


def test_playbook_dir_vars_come_after_inventory_dir_vars():
    inventory = Inventory.load([VARS_DIRS], playbook_dir=str(FIXTURES / "playbook"))
    h1 = inventory.host_vars("h1")
    assert h1["level"] == "web-playbook"
    assert h1["pb"] == 1
    assert h1["inline"] == "host-playbook"
    assert inventory.host_vars("h2")["level"] == "other-files"


def test_inventory_file_and_dir_magic_vars():
    inventory = Inventory.load([VARS_DIRS])
    assert inventory.host_vars("h1")["inventory_file"] == VARS_DIRS
    assert inventory.host_vars("h1")["inventory_dir"] == str(FIXTURES / "vars_dirs")


def test_ini_values_are_python_literals():
    inventory = Inventory.load([str(FIXTURES / "ini_basic" / "hosts.ini")])
    alpha = inventory.host_vars("alpha")
    assert alpha["ansible_port"] == 2222
    assert alpha["num"] == 7 and alpha["flt"] == 1.5 and alpha["flag"] is True
    assert alpha["word"] == "yes"
    assert alpha["lst"] == [1, "a"] and alpha["d"] == {"k": 1}
    assert alpha["quoted"] == "hello world"
    web = inventory.host_vars("web-b")
    assert web["plain"] == "some text # not a comment"
    assert web["greeting"] == "hi there"
    assert web["http_port"] == 8080
    assert inventory.host_vars("lonely")["http_port"] == 80


def test_groups_map_and_groups():
    inventory = Inventory.load([str(FIXTURES / "order" / "hosts.ini")])
    groups = inventory.groups_map()
    assert groups["all"] == ["d1", "a1", "b1", "shared", "z1"]
    assert groups["web_a"] == ["a1", "shared", "z1"]
    assert groups["ungrouped"] == []
    assert inventory.groups["deep"].depth == 3
    assert [g.name for g in inventory.groups["all"].child_groups] == ["ungrouped", "web", "db"]


def test_add_host_and_group_by():
    inventory = Inventory.load(["w1,w2,"])
    assert inventory.add_host("new1", groups=["fresh"], variables={"x": 1}, port=2200) is True
    assert inventory.select("fresh") == ["new1"]
    assert inventory.host_vars("new1")["x"] == 1
    assert inventory.host_vars("new1")["ansible_port"] == 2200
    assert inventory.select("all") == ["w1", "w2", "new1"]
    assert inventory.select("ungrouped") == ["w1", "w2"]
    assert inventory.add_host("new1", groups=["fresh"]) is False
    assert inventory.add_host_to_group("w1", "os_linux") is True
    assert inventory.add_host_to_group("w1", "os_linux") is False
    assert inventory.select("os_linux") == ["w1"]
    assert inventory.select("ungrouped") == ["w2"]
    assert inventory.add_group("kids", parents=["fresh"], variables={"k": 2}) is True
    inventory.add_host_to_group("w2", "kids")
    assert inventory.select("fresh") == ["new1", "w2"]
    assert inventory.host_vars("w2")["k"] == 2
    with pytest.raises(InventoryError, match="makes a cycle"):
        inventory.add_group("fresh", parents=["kids"])


def test_many_sources_merge_in_order():
    a = str(FIXTURES / "multi" / "a" / "hosts.ini")
    b = str(FIXTURES / "multi" / "b" / "hosts.yml")
    inventory = Inventory.load([a, b])
    assert inventory.select("web") == ["m1", "m2", "m3"]
    assert inventory.host_vars("m1") == {
        "src": "a-ini",
        "extra": 1,
        "gv": "a",
        "only_a": 1,
        "inventory_file": a,
        "inventory_dir": str(Path(a).parent),
    }
    assert inventory.host_vars("m4")["gv"] == "b"


def test_directory_source_skips_ignored_files():
    inventory = Inventory.load([str(FIXTURES / "dir_source")])
    assert inventory.select("all") == ["x1", "w1", "w2", "w3", "x2", "d1"]
    assert inventory.host_vars("d1")["dir_all"] is True
    assert "w9" not in inventory.hosts


def test_ten_thousand_hosts_load_fast(tmp_path):
    (tmp_path / "hosts.ini").write_text(
        "[web]\nweb[00001:06000].example.com ansible_user=deploy\n"
        "[db]\ndb[0001:4000] role=db\n[prod:children]\nweb\ndb\n[prod:vars]\nenv=prod\n"
    )
    start = time.perf_counter()
    inventory = Inventory.load([str(tmp_path / "hosts.ini")])
    hosts = inventory.select("prod:!db0001", limit="all")
    for name in hosts:
        inventory.host_vars(name)
    elapsed = time.perf_counter() - start
    assert len(hosts) == 9999
    assert hosts[0] == "web00001.example.com" and hosts[-1] == "db4000"
    assert elapsed < 1.0, f"10,000 hosts took {elapsed:.2f}s"


def test_selection_follows_changes_made_during_a_run():
    inventory = Inventory.load(["w1,w2,"])
    assert inventory.select("later") == []
    inventory.add_group("later")
    inventory.add_host_to_group("w2", "later")
    assert inventory.select("later") == ["w2"]
    inventory.add_group("outer")
    inventory.add_group("later", parents=["outer"])
    assert inventory.select("outer") == ["w2"]
    assert inventory.groups_map()["outer"] == ["w2"]
