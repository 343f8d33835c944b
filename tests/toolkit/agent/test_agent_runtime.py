"""The agent as a real subprocess: crash isolation, timeouts, env/cwd, caching, protocol."""

import os
import sys
import textwrap
import time

import pytest

from toolkit.errors import AgentError, HostUnreachable
from toolkit.transport.local import LocalConnection

MODULES = {
    "tkt_segv": """
        import os, signal
        ARGUMENT_SPEC = {}
        def main(module):
            os.kill(os.getpid(), signal.SIGSEGV)
    """,
    "tkt_exit": """
        import os
        ARGUMENT_SPEC = {"code": {"type": "int", "default": 3}}
        def main(module):
            os._exit(module.params["code"])
    """,
    "tkt_sysexit": """
        import sys
        ARGUMENT_SPEC = {}
        IN_PROCESS = True
        def main(module):
            sys.exit(0)
    """,
    "tkt_sleep": """
        import subprocess, time
        ARGUMENT_SPEC = {"seconds": {"type": "float"}, "pidfile": {"type": "path"}}
        def main(module):
            child = subprocess.Popen(["sleep", "30"])
            with open(module.params["pidfile"], "w") as fh:
                fh.write(str(child.pid))
            time.sleep(module.params["seconds"])
            return {"slept": True}
    """,
    "tkt_env": """
        import os, sys
        ARGUMENT_SPEC = {}
        def main(module):
            print("stray output must not corrupt the channel")
            sys.stdout.flush()
            return {"cwd": os.getcwd(), "var": os.environ.get("TKT_VAR"), "pid": os.getpid(),
                    "stdin": sys.stdin.read()}
    """,
    "tkt_origin": """
        import sys
        ARGUMENT_SPEC = {}
        def main(module):
            import modules._utils.module as m
            return {"utils": m.__spec__.origin,
                    "loop": sys.modules["toolkit.agent.loop"].__spec__.origin}
    """,
    "tkt_state": """
        import os
        ARGUMENT_SPEC = {}
        COUNTER = []
        def main(module):
            import modules._utils.module as m
            m.LEAK = getattr(m, "LEAK", 0) + 1
            return {"leak": m.LEAK}
    """,
}


@pytest.fixture(scope="module")
def conn(tmp_path_factory):
    library = tmp_path_factory.mktemp("tkt-agent-lib")
    for name, source in MODULES.items():
        (library / f"{name}.py").write_text(textwrap.dedent(source))
    with LocalConnection(python=sys.executable, module_dirs=(str(library),)) as connection:
        yield connection


def test_hello(conn):
    assert conn.hello["pid"] > 0 and conn.hello["python"][0] == 3
    assert conn.hello["uid"] == os.getuid()


def test_segfault_fails_only_that_task(conn):
    result = conn.run_module("tkt_segv", {})
    assert result["failed"] is True
    assert "tkt_segv died: killed by signal 11 (SIGSEGV)" in result["msg"]
    assert conn.run_module("ping", {})["ping"] == "pong"


def test_os_exit_and_sys_exit(conn):
    result = conn.run_module("tkt_exit", {"code": 7})
    assert result["failed"] and "exited with code 7 without a result" in result["msg"]
    result = conn.run_module("tkt_sysexit", {})
    assert result["failed"] and "SystemExit" in result["msg"]
    assert conn.run_module("ping", {"data": "alive"})["ping"] == "alive"


def test_timeout_kills_child_and_its_children(conn, tmp_path):
    pidfile = tmp_path / "pid"
    start = time.monotonic()
    result = conn.run_module("tkt_sleep", {"seconds": 30, "pidfile": str(pidfile)}, timeout=0.5)
    assert time.monotonic() - start < 5
    assert result["failed"] and "timed out after 0.5 seconds" in result["msg"]
    grandchild = int(pidfile.read_text())
    for _ in range(50):
        if not _alive(grandchild):
            break
        time.sleep(0.1)
    assert not _alive(grandchild)
    assert conn.run_module("tkt_sleep", {"seconds": 0, "pidfile": str(pidfile)})["slept"]


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_env_cwd_and_stdio_isolated(conn, tmp_path):
    result = conn.run_module("tkt_env", {}, env={"TKT_VAR": "yes"}, cwd=str(tmp_path))
    assert result["cwd"] == str(tmp_path) and result["var"] == "yes" and result["stdin"] == ""
    assert result["pid"] != conn.hello["pid"]
    assert conn.run_module("tkt_env", {})["var"] is None


def test_forked_modules_do_not_leak_state(conn):
    assert conn.run_module("tkt_state", {})["leak"] == 1
    assert conn.run_module("tkt_state", {})["leak"] == 1


def test_bad_cwd(conn):
    result = conn.run_module("tkt_env", {}, cwd="/no/such/dir")
    assert result["failed"] and "cannot chdir to /no/such/dir" in result["msg"]


def test_source_sent_once_per_digest(conn):
    conn.run_module("ping", {})
    sent = []
    client = conn.client
    original = client.write

    def spy(data):
        sent.append(data)
        original(data)

    client.write = spy
    try:
        conn.run_module("ping", {})
        conn.run_module("tkt_env", {})
    finally:
        client.write = original
    assert all(b'"source"' not in frame and b'"utils"' not in frame for frame in sent)


def test_agent_error_is_not_a_module_failure(conn):
    with pytest.raises(AgentError, match="unknown op"):
        conn.call("no_such_op")
    with pytest.raises(AgentError, match="No such file"):
        conn.call("fetch", path="/no/such/file", offset=0, length=10)
    assert conn.call("ping") == {"pong": True}


def test_dead_agent_is_unreachable():
    conn = LocalConnection(python=sys.executable)
    conn.open()
    os.kill(conn.hello["pid"], 9)
    with pytest.raises(HostUnreachable, match="agent died"):
        conn.run_module("ping", {})
    with pytest.raises(HostUnreachable):
        conn.call("ping")
    conn.close()


def test_missing_python_is_unreachable():
    conn = LocalConnection(python="/no/such/python3")
    with pytest.raises(HostUnreachable, match="/no/such/python3"):
        conn.open()


def test_nothing_written_to_disk_and_pipes_only(conn):
    fds = os.listdir(f"/proc/{conn.hello['pid']}/fd")
    targets = {os.readlink(f"/proc/{conn.hello['pid']}/fd/{fd}") for fd in fds}
    assert not any(t.startswith("/") and t.endswith(".py") for t in targets)


def test_agent_and_utils_come_from_memory_not_disk(conn):
    result = conn.run_module("tkt_origin", {})
    assert result["utils"] == "<tk:modules._utils.module>"
    assert result["loop"] == "<tk:toolkit.agent.loop>"
