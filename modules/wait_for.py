"""Wait for a port, a file or a string in it, or for a port to drain or a file to go away."""

import os
import re
import socket
import time

ARGUMENT_SPEC = {
    "host": {"type": "str", "default": "127.0.0.1"},
    "port": {"type": "int"},
    "path": {"type": "path"},
    "state": {
        "type": "str",
        "default": "started",
        "choices": ["absent", "drained", "present", "started", "stopped"],
    },
    "timeout": {"type": "int", "default": 300},
    "delay": {"type": "int", "default": 0},
    "sleep": {"type": "int", "default": 1},
    "connect_timeout": {"type": "int", "default": 5},
    "search_regex": {"type": "str"},
    "exclude_hosts": {"type": "list", "elements": "str"},
    "active_connection_states": {
        "type": "list",
        "elements": "str",
        "default": ["ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2", "SYN_RECV", "SYN_SENT", "TIME_WAIT"],
    },
    "msg": {"type": "str"},
}
MUTUALLY_EXCLUSIVE = [["port", "path"]]
SUPPORTS_CHECK_MODE = True

TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}


def main(module):
    p = module.params
    if p["state"] == "drained" and not p["port"]:
        module.fail("state=drained should only be used for checking a port")
    if p["search_regex"] and p["state"] in ("absent", "stopped", "drained"):
        module.fail("state=%s should not be used with search_regex" % p["state"])
    if module.check_mode:
        return {"changed": False, "elapsed": 0, "state": p["state"]}
    start = time.time()
    if p["delay"]:
        time.sleep(p["delay"])
    deadline = start + p["timeout"]
    if not p["port"] and not p["path"]:
        time.sleep(max(0, deadline - time.time()))  # neither port nor path: a plain sleep
        return {"changed": False, "elapsed": int(time.time() - start), "state": p["state"]}
    regex = re.compile(p["search_regex"], re.M) if p["search_regex"] else None
    check = _checker(p, regex)
    while True:
        found = check()
        if found is not None:
            result = {
                "changed": False,
                "elapsed": int(time.time() - start),
                "state": p["state"],
                "match_groups": [],
                "match_groupdict": {},
            }
            if hasattr(found, "groups"):
                result.update(match_groups=list(found.groups()), match_groupdict=found.groupdict())
            for key in ("port", "path", "search_regex"):
                if p[key] is not None:
                    result[key] = p[key]
            return result
        if time.time() >= deadline:
            module.fail(p["msg"] or _timeout_msg(p), elapsed=int(time.time() - start))
        time.sleep(min(max(p["sleep"], 0.05), max(0.05, deadline - time.time())))


def _checker(p, regex):
    state = p["state"]
    if p["port"]:
        if state in ("started", "present"):
            return lambda: _port_open(p["host"], p["port"], p["connect_timeout"], regex)
        if state in ("stopped", "absent"):
            return lambda: (
                None if _connectable(p["host"], p["port"], p["connect_timeout"]) else True
            )
        return lambda: None if _active(p["port"], p) else True
    if state in ("started", "present"):
        return lambda: _path_ready(p["path"], regex)
    return lambda: None if os.path.exists(p["path"]) else True


def _connectable(host, port, timeout):
    try:
        socket.create_connection((host, port), timeout).close()
        return True
    except (socket.error, OSError):
        return False


def _port_open(host, port, timeout, regex):
    try:
        conn = socket.create_connection((host, port), timeout)
    except (socket.error, OSError):
        return None
    try:
        if regex is None:
            return True
        data = b""
        conn.settimeout(timeout)
        while True:
            try:
                chunk = conn.recv(4096)
            except socket.timeout:
                return None
            if not chunk:
                return None
            data += chunk
            match = regex.search(data.decode("utf-8", "replace"))
            if match:
                return match
    finally:
        conn.close()


def _path_ready(path, regex):
    if not os.path.exists(path):
        return None
    if regex is None:
        return True
    try:
        with open(path, "rb") as handle:
            return regex.search(handle.read().decode("utf-8", "replace"))
    except (IOError, OSError):
        return None


def _active(port, p):
    wanted = set(s.upper() for s in p["active_connection_states"])
    excluded = set(p["exclude_hosts"] or [])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                lines = handle.read().splitlines()[1:]
        except (IOError, OSError):
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            if local_port != port or TCP_STATES.get(fields[3]) not in wanted:
                continue
            remote = _hex_ip(fields[2].split(":")[0])
            if remote not in excluded:
                return True
    return False


def _hex_ip(text):
    if len(text) == 8:
        return socket.inet_ntoa(bytes(bytearray.fromhex(text))[::-1])
    raw = bytes(bytearray.fromhex(text))
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def _timeout_msg(p):
    where = "%s:%s" % (p["host"], p["port"]) if p["port"] else p["path"]
    if p["state"] in ("stopped", "absent"):
        if p["port"]:
            return "Timeout when waiting for %s to stop." % where
        return "Timeout when waiting for %s to be absent." % where
    if p["state"] == "drained":
        return "Timeout when waiting for %s to drain" % where
    if p["search_regex"]:
        return "Timeout when waiting for search string %s in %s" % (p["search_regex"], where)
    return "Timeout when waiting for %s" % where
