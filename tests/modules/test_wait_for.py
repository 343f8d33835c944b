"""wait_for against real sockets and files (all on 127.0.0.1 / tmp_path)."""

import socket
import threading
import time

from modules._utils.testing import run_module


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_port_started_after_delay():
    port = free_port()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def listen_later():
        time.sleep(0.5)
        server.bind(("127.0.0.1", port))
        server.listen(5)

    threading.Thread(target=listen_later, daemon=True).start()
    start = time.monotonic()
    result = run_module("wait_for", {"port": port, "timeout": 10, "sleep": 1})
    assert result["failed"] is False and result["port"] == port
    assert 0.4 < time.monotonic() - start < 5
    server.close()


def test_port_search_regex_and_stopped():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]

    def banner():
        for _ in range(3):
            try:
                conn, _ = server.accept()
            except OSError:  # the test closed the server
                return
            conn.sendall(b"SSH-2.0-Test_1.2\r\n")
            conn.close()

    threading.Thread(target=banner, daemon=True).start()
    result = run_module("wait_for", {"port": port, "search_regex": r"SSH-(\d\.\d)", "timeout": 5})
    assert result["match_groups"] == ["2.0"]
    server.close()
    result = run_module("wait_for", {"port": port, "state": "stopped", "timeout": 5})
    assert result["failed"] is False


def test_port_timeout_message():
    port = free_port()
    result = run_module("wait_for", {"port": port, "timeout": 1})
    assert result["failed"] and result["msg"] == f"Timeout when waiting for 127.0.0.1:{port}"
    custom = run_module("wait_for", {"port": port, "timeout": 1, "msg": "no server"})
    assert custom["msg"] == "no server"


def test_drained():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    port = server.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    busy = run_module(
        "wait_for",
        {
            "port": port,
            "state": "drained",
            "timeout": 1,
            "active_connection_states": ["ESTABLISHED"],
        },
    )
    assert busy["failed"] and "drain" in busy["msg"]
    client.close()
    accepted.close()
    server.close()
    done = run_module(
        "wait_for",
        {
            "port": port,
            "state": "drained",
            "timeout": 5,
            "active_connection_states": ["ESTABLISHED"],
        },
    )
    assert done["failed"] is False


def test_path_present_regex_and_absent(tmp_path):
    target = tmp_path / "log"

    def write_later():
        time.sleep(0.3)
        target.write_text("starting\nready on port 8080\n")

    threading.Thread(target=write_later, daemon=True).start()
    result = run_module(
        "wait_for", {"path": str(target), "search_regex": r"ready on port (?P<p>\d+)", "timeout": 5}
    )
    assert result["match_groupdict"] == {"p": "8080"}
    threading.Timer(0.3, target.unlink).start()
    assert (
        run_module("wait_for", {"path": str(target), "state": "absent", "timeout": 5})["failed"]
        is False
    )
    missing = run_module("wait_for", {"path": str(target), "timeout": 1})
    assert missing["msg"] == f"Timeout when waiting for {target}"


def test_plain_sleep_and_bad_combinations():
    start = time.monotonic()
    assert run_module("wait_for", {"timeout": 1})["failed"] is False
    assert time.monotonic() - start >= 0.9
    assert "drained" in run_module("wait_for", {"path": "/x", "state": "drained"})["msg"]
    assert "mutually exclusive" in run_module("wait_for", {"path": "/x", "port": 1})["msg"]
