"""toolkit/engine/fwwatch.py on a real dbus-daemon (a private bus standing in for the system
bus; dbusbus.py): which signals make it restore, the restores that follow once firewalld has
settled, and a bus that goes away and comes back. firewalld itself, with tke's rules, is in
test_network_firewalld.py (booted lab)."""

from __future__ import annotations

import threading
import time

from tests.engine.dbusbus import PrivateBus
from toolkit.engine import dbuswire, fwwatch

FW_PATH = "/org/fedoraproject/FirewallD1"


class Watcher:
    """fwwatch.watch in a thread, recording (seconds since start, why) per restore."""

    def __init__(self, address: str) -> None:
        self.calls: list = []
        self.lines: list = []
        self.stop = threading.Event()
        self.t0 = time.monotonic()
        self.thread = threading.Thread(
            target=fwwatch.watch,
            kwargs={
                "restore": lambda why: self.calls.append((time.monotonic() - self.t0, why)),
                "connect": lambda: dbuswire.Connection(address, timeout=2),
                "log": self.lines.append,
                "until": self.stop.is_set,
                "settle": (0.3, 0.6),
                "retry": 0.2,
                "ready_timeout": 0.3,  # the stand-in for firewalld below does not answer
            },
        )
        self.thread.start()

    def whys(self) -> list:
        return [why for _, why in self.calls]

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        while len(self.calls) < count and time.monotonic() < end:
            time.sleep(0.02)
        assert len(self.calls) >= count, (self.calls, self.lines)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


def test_reload_restart_and_stop_restore_now_and_once_settled(tmp_path):
    with PrivateBus(tmp_path) as bus:
        watcher = Watcher(bus.address)
        try:
            watcher.wait_for(1)  # on connecting: whatever happened before
            assert watcher.whys() == ["watch started"]
            bus.emit(FW_PATH, "org.fedoraproject.FirewallD1.Other")  # not an event
            bus.emit("/x", "org.example.Reloaded")  # another interface's Reloaded
            bus.emit(FW_PATH, "org.fedoraproject.FirewallD1.Reloaded")
            watcher.wait_for(4)
            reload_at = watcher.calls[1][0]
            assert watcher.whys()[1:] == ["firewalld reloaded"] * 3
            first, second = (t - reload_at for t, _ in watcher.calls[2:4])
            assert 0.3 <= first < 0.55 and 0.6 <= second < 0.85, watcher.calls

            # a restart: firewalld's name gets a new owner (here a client of the test's own)
            with dbuswire.Connection(bus.address) as firewalld:
                firewalld.call(
                    dbuswire.BUS_NAME, dbuswire.BUS_PATH, dbuswire.BUS_NAME, "RequestName",
                    fwwatch.FIREWALLD, 0,
                )  # fmt: skip
                watcher.wait_for(7)
                # before the name is released (leaving the block): that is a "stopped" at once
                assert watcher.whys()[4:] == ["firewalld restarted"] * 3
            watcher.wait_for(10)  # its name released: stopped (firewalld cleans up as it goes)
            time.sleep(0.8)
            assert watcher.whys()[7:] == ["firewalld stopped"] * 3
        finally:
            watcher.close()
    assert watcher.lines[0].startswith("watching firewalld's signals on the system bus as :1.")
    assert "firewalld reloaded: restoring the bridge's rules" in watcher.lines


def test_a_bus_that_goes_away_is_said_once_and_watched_again(tmp_path):
    bus = PrivateBus(tmp_path)
    watcher = Watcher(bus.address)  # no bus yet
    try:
        time.sleep(0.7)  # several attempts
        assert watcher.calls == []
        assert len(watcher.lines) == 1 and watcher.lines[0].startswith("system bus: ")
        assert watcher.lines[0].endswith("trying again every 0.2 s")
        bus.start()
        watcher.wait_for(1)
        bus.stop()
        bus.start()  # dbus-daemon restarted: connect again, restore for what was missed
        watcher.wait_for(2)
        assert watcher.whys() == ["watch started", "watch started"]
        bus.emit(FW_PATH, "org.fedoraproject.FirewallD1.Reloaded")
        watcher.wait_for(3)
        assert watcher.whys()[2] == "firewalld reloaded"
    finally:
        watcher.close()
        bus.stop()
