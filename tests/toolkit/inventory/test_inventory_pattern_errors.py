"""Malformed host patterns: one clear InventoryError naming the pattern, never a crash.

ansible-core itself drops an unbalanced '[' ('web[1' selects the group web) and crashes
on 'all:&'; tk refuses both so that a typo cannot run a task on a whole group.
"""

import random

import pytest

from toolkit.errors import InventoryError
from toolkit.inventory import Inventory


@pytest.fixture
def web(tmp_path):
    inv = tmp_path / "inv.ini"
    inv.write_text("[web]\nweb1\nweb2\n[db]\ndb1\n")
    return Inventory.load([str(inv)])


@pytest.mark.parametrize("pattern", ["web[1", "web]", "web:db[1", "db,web[0", "!web[", "web[0]]"])
def test_unbalanced_bracket_is_refused(web, pattern):
    with pytest.raises(InventoryError) as caught:
        web.select(pattern)
    assert f"invalid host pattern '{pattern}'" in caught.value.message
    assert "unbalanced" in caught.value.message


def test_unbalanced_bracket_in_limit_is_refused(web):
    with pytest.raises(InventoryError, match=r"invalid host pattern 'web\[1'"):
        web.select("all", limit="web[1")


@pytest.mark.parametrize("pattern", ["~[", "~web[", "~web[1"])
def test_invalid_regex_is_refused(web, pattern):
    with pytest.raises(InventoryError) as caught:
        web.select(pattern)
    assert caught.value.message.startswith(f"invalid host pattern '{pattern}'")


@pytest.mark.parametrize("pattern", ["all:&", "all:!", "&", "web,!", "web:&&"])
def test_operator_without_a_word_is_refused(web, pattern):
    with pytest.raises(InventoryError) as caught:
        web.select(pattern)
    assert f"invalid host pattern '{pattern}'" in caught.value.message
    assert "must be followed by a group or host" in caught.value.message


@pytest.mark.parametrize(
    "pattern,expected",
    [
        ("web[1]", ["web2"]),
        ("web[0:1]:&web[1:]", ["web2"]),
        ("~web[12]", ["web1", "web2"]),
        ("web[!2]", ["web1"]),
        ("all:!db", ["web1", "web2"]),
    ],
)
def test_balanced_brackets_still_select(web, pattern, expected):
    assert web.select(pattern) == expected


def test_fuzzed_patterns_give_hosts_or_inventory_error(web):
    rng = random.Random(20240611)
    for _ in range(3000):
        pattern = "".join(rng.choice("a:&![]~*,0123456789-") for _ in range(rng.randint(1, 12)))
        for select, limit in ((pattern, None), ("all", pattern)):
            try:
                hosts = web.select(select, limit)
            except InventoryError:
                continue
            assert set(hosts) <= {"web1", "web2", "db1"}, pattern
