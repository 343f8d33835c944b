"""Handler notification bookkeeping: names, listen topics, definition order, per host."""

from toolkit.executor.handlers import HandlerState
from toolkit.playbook.model import Handler


def _handlers():
    return [
        Handler(name="restart app", action="debug"),
        Handler(name="reload web", action="debug", listen=["web changed"]),
        Handler(name="other", action="debug", listen=["web changed"]),
    ]


def test_definition_order_and_hosts():
    hs = _handlers()
    state = HandlerState(hs)
    assert state.notify("b", ["web changed"]) == []
    assert state.notify("a", ["restart app", "nope"]) == ["nope"]
    state.notify("a", ["restart app"])  # twice: still once
    assert state.take_next(["a", "b"]) == (hs[0], ["a"])
    assert state.take_next(["a", "b"]) == (hs[1], ["b"])
    assert state.take_next(["a", "b"]) == (hs[2], ["b"])
    assert state.take_next(["a", "b"]) == (None, [])


def test_only_requested_hosts_and_forget():
    hs = _handlers()
    state = HandlerState(hs)
    state.notify("a", ["restart app"])
    state.notify("b", ["restart app"])
    state.forget("b")
    assert state.take_next(["b"]) == (None, [])
    assert state.take_next(["a"]) == (hs[0], ["a"])
