"""serial batches: numbers, percentages, lists; stats exit codes."""

import pytest

from toolkit.errors import ParseError
from toolkit.executor.serial import batches
from toolkit.executor.stats import Stats

HOSTS = [f"h{i}" for i in range(10)]


@pytest.mark.parametrize(
    "serial,sizes",
    [
        (None, [10]),
        (0, [10]),
        (3, [3, 3, 3, 1]),
        ("4", [4, 4, 2]),
        ("30%", [3, 3, 3, 1]),
        ("5%", [1] * 10),
        ([1, 2, "50%"], [1, 2, 5, 2]),
        (20, [10]),
    ],
)
def test_batch_sizes(serial, sizes):
    result = batches(HOSTS, serial)
    assert [len(b) for b in result] == sizes
    assert [h for b in result for h in b] == HOSTS


def test_bad_serial():
    with pytest.raises(ParseError, match="serial"):
        batches(HOSTS, "lots")


def test_exit_codes():
    stats = Stats()
    stats.increment("ok", "a")
    assert stats.exit_code() == 0
    stats.increment("failures", "a")
    assert stats.exit_code() == 2
    stats.increment("unreachable", "b")
    assert stats.exit_code() == 4
    assert stats.summary("a")["failures"] == 1
    assert stats.hosts() == ["a", "b"]
