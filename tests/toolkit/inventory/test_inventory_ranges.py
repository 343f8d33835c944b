"""Host ranges and host:port parsing, as Ansible's parse_address/expand_hostname_range do."""

import pytest

from toolkit.inventory.ranges import RangeError, expand_hostpattern, parse_address

EXPANSIONS = [
    ("web[1:3]", ["web1", "web2", "web3"], None),
    (
        "web[01:03].example.com",
        ["web01.example.com", "web02.example.com", "web03.example.com"],
        None,
    ),
    ("db-[a:c]", ["db-a", "db-b", "db-c"], None),
    ("n[1:10:4]", ["n1", "n5", "n9"], None),
    ("x[a:e:2]", ["xa", "xc", "xe"], None),
    ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"], None),
    ("w[:2]", ["w0", "w1", "w2"], None),
    ("web[1:2]:2222", ["web1", "web2"], 2222),
    ("10.0.[1:2].5:22", ["10.0.1.5", "10.0.2.5"], 22),
    ("[2001:db8::1]:2201", ["2001:db8::1"], 2201),
    ("2001:db8::1", ["2001:db8::1"], None),
    ("plain", ["plain"], None),
    ("host:80", ["host"], 80),
]


@pytest.mark.parametrize("pattern,names,port", EXPANSIONS)
def test_expand(pattern, names, port):
    assert expand_hostpattern(pattern) == (names, port)


@pytest.mark.parametrize(
    "pattern,message",
    [
        ("web[1:x]", "must be numbers or single letters"),
        ("web[1]", "must be begin:end or begin:end:step"),
        ("web[1:]", "must have an end value"),
        ("web[01:100]", "equal-length begin and end"),
        ("web[c:a]", "must have begin <= end"),
        ("web[1:3:x]", "step 'x' in 'web[1:3:x]' is not a number"),
        ("web[1:3", "unclosed range"),
    ],
)
def test_bad_ranges(pattern, message):
    with pytest.raises(RangeError, match=message.replace("[", r"\[").replace("]", r"\]")):
        expand_hostpattern(pattern)


def test_parse_address_without_ranges():
    assert parse_address("h1:2200") == ("h1", 2200)
    with pytest.raises(RangeError):
        parse_address("web[1:2]")
    with pytest.raises(RangeError):
        parse_address("not a host")
