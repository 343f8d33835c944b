"""toolkit/engine/dbuswire.py against a real dbus-daemon (a private bus, tests/engine/dbusbus.py):
the handshake, method calls and their errors, signals picked by match rules, and messages that
come in pieces or are not D-Bus at all."""

from __future__ import annotations

import socket
import threading

import pytest

from tests.engine.dbusbus import PrivateBus
from toolkit.engine import dbuswire

RELOADED = "type='signal',interface='org.fedoraproject.FirewallD1',member='Reloaded'"


def bus_call(conn: dbuswire.Connection, member: str, *args) -> dbuswire.Message:
    """A method of the bus daemon itself."""
    return conn.call(dbuswire.BUS_NAME, dbuswire.BUS_PATH, dbuswire.BUS_NAME, member, *args)


def test_hello_calls_and_error_replies(tmp_path):
    with PrivateBus(tmp_path) as bus, dbuswire.Connection(bus.address) as conn:
        assert conn.name.startswith(":1.")
        names = bus_call(conn, "ListNames").args[0]
        assert dbuswire.BUS_NAME in names and conn.name in names
        owner = bus_call(conn, "GetNameOwner", conn.name)
        assert owner.args == [conn.name]
        with pytest.raises(dbuswire.DBusError, match="NameHasNoOwner"):
            bus_call(conn, "GetNameOwner", "org.x.None")
        with pytest.raises(dbuswire.DBusError, match="UnknownMethod"):
            bus_call(conn, "NoSuchMethod")


def test_signals_that_match_and_only_those(tmp_path):
    with PrivateBus(tmp_path) as bus, dbuswire.Connection(bus.address) as conn:
        conn.add_match(RELOADED)
        conn.add_match(
            "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',"
            "arg0='org.fedoraproject.FirewallD1'"
        )
        bus.emit("/org/fedoraproject/FirewallD1", "org.fedoraproject.FirewallD1.Other")
        bus.emit("/org/fedoraproject/FirewallD1", "org.fedoraproject.FirewallD1.Reloaded")
        with dbuswire.Connection(bus.address) as other:  # owns the name, then lets it go
            taken = bus_call(other, "RequestName", "org.fedoraproject.FirewallD1", 0)
            assert taken.args == [1]  # DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        got = [(m.member, m.args) for m in conn.signals(timeout=1.0)]
    assert got[0] == ("NameAcquired", [conn.name])  # the bus's own, to every new client
    assert got[1:] == [
        ("Reloaded", []),
        ("NameOwnerChanged", ["org.fedoraproject.FirewallD1", "", other.name]),
        ("NameOwnerChanged", ["org.fedoraproject.FirewallD1", other.name, ""]),
    ]


def test_a_refused_authentication_is_an_error(tmp_path):
    # a real refusal: this bus takes only DBUS_COOKIE_SHA1, not EXTERNAL
    with PrivateBus(tmp_path, auth="DBUS_COOKIE_SHA1") as bus:
        with pytest.raises(dbuswire.DBusError, match="refused EXTERNAL authentication: REJECTED"):
            dbuswire.Connection(bus.address)


def test_no_bus_and_bad_addresses(tmp_path):
    with pytest.raises(dbuswire.DBusError, match="No such file"):
        dbuswire.Connection(f"unix:path={tmp_path}/none")
    with pytest.raises(dbuswire.DBusError, match="no unix socket path"):
        dbuswire.Connection("tcp:host=127.0.0.1,port=1")


def test_a_silent_bus_times_out(tmp_path):
    """A peer that accepts and authenticates but never answers Hello (a socket of the test's
    own: no real bus hangs on purpose)."""
    path = str(tmp_path / "silent")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(b"OK 0123456789abcdef0123456789abcdef\r\n")
        conn.recv(4096)  # BEGIN and Hello, then nothing: the client must give up
        done.wait(5)
        conn.close()

    done = threading.Event()
    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with pytest.raises(dbuswire.DBusError, match="Hello: no reply from the bus in 0.3 s"):
            dbuswire.Connection(f"unix:path={path}", timeout=0.3)
    finally:
        done.set()
        thread.join()
        server.close()


def test_decode_waits_for_whole_messages_and_refuses_others():
    wire = dbuswire.encode(dbuswire.SIGNAL, 7, None, "/a/b", "org.x.I", "Member", ["one", 2])
    for cut in (0, 15, 16, len(wire) - 1):
        assert dbuswire.decode(wire[:cut]) == (None, 0)
    msg, used = dbuswire.decode(wire + b"next")
    assert used == len(wire)
    assert (msg.type, msg.serial) == (dbuswire.SIGNAL, 7)
    assert (msg.member, msg.interface) == ("Member", "org.x.I")
    assert msg.fields[dbuswire.PATH] == "/a/b" and msg.args == ["one", 2]
    with pytest.raises(ValueError, match="not a D-Bus"):
        dbuswire.decode(b"HTTP/1.1 200 OK\r\n\r\n")
    with pytest.raises(ValueError, match="malformed"):  # a header array past its end
        dbuswire.decode(wire[:12] + (len(wire) * 2).to_bytes(4, "little") + wire[16:] * 4)
    with pytest.raises(ValueError, match="larger than"):
        dbuswire.decode(b"l\x04\x00\x01" + (1 << 28).to_bytes(4, "little") + bytes(8))
