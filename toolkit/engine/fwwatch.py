"""Put tke's bridge rules back whenever firewalld reloads, restarts or stops (`tke system
service --watch`), as dockerd does on firewalld's D-Bus signals.

    fwwatch.watch(lambda why: network.restore_bridge(ctrs), log=print)   # until killed

firewalld clears iptables' tables on every reload, restart and stop, tke's masquerade, FORWARD
and DNAT rules with them: without this, containers that run on after a `firewall-cmd --reload`
(or a firewalld update, whose package restarts it) lose their way out and their published
ports until the next container starts on the bridge. tke has no daemon; this watcher is the
one long-lived process it offers for that, in its systemd unit.

Events: firewalld's `Reloaded` signal (sent once a reload is over), and the bus's
NameOwnerChanged for firewalld's name: no owner any more (a stop: firewalld clears its rules
on the way out) or a new one (a start or restart, whose start-up, clearing the tables again,
is still to come: the watcher first asks firewalld for its `state`, which it answers only once
started, waiting up to READY_TIMEOUT seconds). Each event restores, then again SETTLE seconds
later in case firewalld was not quite done; restoring is idempotent and costs one `iptables
-C` when nothing is missing. A lost bus connection is retried every RETRY seconds.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from toolkit.engine import dbuswire

FIREWALLD = "org.fedoraproject.FirewallD1"
FIREWALLD_PATH = "/org/fedoraproject/FirewallD1"
MATCHES = (
    f"type='signal',interface='{FIREWALLD}',member='Reloaded'",
    f"type='signal',sender='{dbuswire.BUS_NAME}',interface='{dbuswire.BUS_NAME}',"
    f"member='NameOwnerChanged',arg0='{FIREWALLD}'",
)
SETTLE = (1.0, 3.0)
RETRY = 5.0
READY_TIMEOUT = 120.0


def is_firewalld_event(msg: dbuswire.Message) -> Optional[str]:
    """What a signal says about firewalld: "reloaded", "restarted", "stopped" or None."""
    if msg.interface == FIREWALLD and msg.member == "Reloaded":
        return "reloaded"
    if msg.member == "NameOwnerChanged" and msg.args[:1] == [FIREWALLD] and len(msg.args) == 3:
        return "stopped" if msg.args[2] == "" else "restarted"
    return None


def watch(
    restore: Callable[[str], None],
    connect: Callable[[], dbuswire.Connection] = dbuswire.Connection.system,
    log: Callable[[str], None] = lambda text: None,
    until: Optional[Callable[[], bool]] = None,
    settle: tuple = SETTLE,
    retry: float = RETRY,
    ready_timeout: float = READY_TIMEOUT,
) -> None:
    """Call `restore(why)` on each firewalld event (and once per connection, for what happened
    while no one watched) for ever, or until `until()` is true (checked twice a second); `log`
    gets a line per event and problem."""
    idle = None if until is None else 0.5  # for ever: no wake-ups while nothing happens
    until = until or (lambda: False)
    problem = None
    while not until():
        try:
            with connect() as bus:
                for rule in MATCHES:
                    bus.add_match(rule)
                log(f"watching firewalld's signals on the system bus as {bus.name}")
                problem = None
                restore("watch started")
                _serve(bus, restore, log, until, (settle, ready_timeout, idle))
        except (dbuswire.DBusError, OSError, ValueError) as exc:
            if str(exc) != problem:  # a bus that stays away is said once
                log(f"system bus: {exc}; trying again every {retry:g} s")
            problem = str(exc)
            _sleep(retry, until)


def _serve(bus: dbuswire.Connection, restore, log, until, timing: tuple) -> None:
    settle, ready_timeout, idle = timing
    due: list = []  # (monotonic time, why) of the restores to come
    while not until():
        wait = max(0.0, min(t for t, _ in due) - time.monotonic()) if due else idle
        try:
            msg = bus.receive(wait)
        except TimeoutError:
            msg = None
        why = is_firewalld_event(msg) if msg is not None and msg.type == dbuswire.SIGNAL else None
        if why == "restarted":
            wait_started(bus, ready_timeout)
        now = time.monotonic()
        if why:
            log(f"firewalld {why}: restoring the bridge's rules")
            due = [(now + delay, f"firewalld {why}") for delay in settle]
            restore(f"firewalld {why}")
        for entry in [d for d in due if d[0] <= now]:
            due.remove(entry)
            restore(entry[1])


def wait_started(bus: dbuswire.Connection, timeout: float) -> None:
    """Until a (re)started firewalld has applied its rules: it serves D-Bus calls only after
    that. Its answer does not matter; an error or no answer in time is waited out too."""
    props = "org.freedesktop.DBus.Properties"
    try:
        bus.call(FIREWALLD, FIREWALLD_PATH, props, "Get", FIREWALLD, "state", timeout=timeout)
    except dbuswire.DBusError:
        pass


def _sleep(seconds: float, until) -> None:
    end = time.monotonic() + seconds
    while not until() and time.monotonic() < end:
        time.sleep(min(0.2, max(0.0, end - time.monotonic())))
