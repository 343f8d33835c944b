"""The keeper (tk's ControlPersist) with real `tk play` runs against lab hosts: agents kept
between runs, never shared across code/env/variable changes or with password connections,
dead agents replaced, interrupted ones thrown away, idle ones closed, other uids refused.

Each test has its own keeper dir (so its own keeper), stopped at the end by PID."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import pytest

from tests.e2e.tkrun import TK, default_sigint, interrupt_at_long
from tests.keeper_fixtures import stop_keepers
from toolkit.transport import keeperpath

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

BOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - copy:
        content: "run {{ run }} on {{ inventory_hostname }}\\n"
        dest: "{{ dest | default('/tmp/tkt-keeper.txt') }}"
    - command: cat {{ dest | default('/tmp/tkt-keeper.txt') }}
      register: out
      changed_when: false
    - assert:
        that: out.stdout == "run " ~ run ~ " on " ~ inventory_hostname
    - name: the agent's pid (the module process's parent) and uid
      shell: "echo $(cut -d' ' -f4 /proc/$PPID/stat) $(id -u)"
      register: me
      changed_when: false
    - debug:
        msg: "AGENT {{ inventory_hostname }} {{ me.stdout }}"
"""


class Runner:
    """`tk play` with this test's keeper dir; parses agent pids."""

    def __init__(self, tmp_path: Path, inventory: str) -> None:
        self.dir = tmp_path
        self.keeper_dir = tmp_path / "kd"
        self.book = tmp_path / "book.yml"
        self.book.write_text(BOOK)
        self.inventory = inventory
        self.env = dict(os.environ, TK_KEEPER_DIR=str(self.keeper_dir), NO_COLOR="1")
        self.env.pop("TK_SSH_PERSIST", None)

    def play(self, run: str, *extra: str, code: int = 0, cwd=None, **env: str) -> Dict[str, int]:
        """Run the book; {host: agent pid}."""
        result = subprocess.run(
            [str(TK), "play", "-i", self.inventory, "-e", f"run={run}", *extra, str(self.book)],
            capture_output=True, text=True, timeout=240, env=dict(self.env, **env),
            cwd=cwd or self.dir,
        )  # fmt: skip
        out = result.stdout + result.stderr
        assert result.returncode == code, out
        found = re.findall(r"AGENT (\S+) (\d+) (\d+)", out)
        self.uids = {h: int(u) for h, _, u in found}
        return {h: int(p) for h, p, _ in found}

    def status(self, **env: str) -> List[Dict]:
        result = subprocess.run([str(TK), "keeper", "status", "--json"], capture_output=True,
                                text=True, timeout=30, env=dict(self.env, **env))  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["agents"]

    def keeper_pids(self) -> List[int]:
        return [int(p.read_text()) for p in self.keeper_dir.glob("keeper-*.pid")]

    def stop(self) -> None:
        subprocess.run([str(TK), "keeper", "stop"], env=self.env, capture_output=True,
                       timeout=30)  # fmt: skip
        if self.keeper_dir.is_dir():
            stop_keepers(self.keeper_dir)


@pytest.fixture
def runner(lab, tmp_path):
    made = Runner(tmp_path, lab.inventory)
    try:
        yield made
    finally:
        made.stop()


def _names(lab, n: int = 3) -> List[str]:
    return [h.name for h in lab.hosts[:n]]


def _file_on(lab, host: str) -> str:
    return Path(f"/proc/{lab.host(host).pid1}/root/tmp/tkt-keeper.txt").read_text()


def _agent_in_host(lab, host: str, ns_pid: int) -> int:
    """The root-namespace pid of the process that is `ns_pid` inside a lab host."""
    wanted = os.readlink(f"/proc/{lab.host(host).pid1}/ns/pid")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") != wanted:
                continue
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        nspid = re.search(r"^NSpid:\s+(.*)$", status, re.M).group(1).split()
        if int(nspid[-1]) == ns_pid:
            return int(pid)
    raise AssertionError(f"no process {ns_pid} on {host}")


def fresh(now: Dict[str, int], before: Dict[str, int]) -> bool:
    """True when every host has another agent (pid) than before."""
    assert sorted(now) == sorted(before)
    return all(now[h] != before[h] for h in now)


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or _zombie(pid):
            return True
        time.sleep(0.05)
    return False


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_second_run_reuses_the_agents(lab, runner):
    first = runner.play("one")
    assert sorted(first) == sorted(_names(lab))
    status = runner.status()
    kept = {a["host"]: a["pid"] for a in status}
    assert kept == first  # the keeper holds the very agents the run used
    assert {a["modules"] for a in status} == {3}  # copy, command, shell: not sent again
    second = runner.play("two")
    assert second == first  # same agent processes served the second run
    for host in first:
        assert _file_on(lab, host) == f"run two on {host}\n"


def test_code_env_or_variable_change_gets_a_new_agent(lab, runner):
    first = runner.play("one")
    # another connection variable (the same user, spelt out): not the same agent
    by_var = runner.play("two", "-e", "ansible_port=22")
    assert fresh(by_var, first)
    # a become user: a new agent, running as that user
    nobody = ("-b", "--become-user", "nobody", "-e", "dest=/tmp/tkt-keeper-nobody.txt")
    become = runner.play("three", *nobody)
    assert set(runner.uids.values()) == {65534}
    assert fresh(become, first) and fresh(become, by_var)
    assert runner.play("three", *nobody) == become  # kept too
    # another environment (here the idle timeout) is another keeper with its own agents
    other_env = runner.play("four", TK_SSH_PERSIST="61")
    assert fresh(other_env, first)
    assert len(runner.keeper_pids()) == 2
    again = runner.play("five")  # and the first keeper still holds the first agents
    assert again == first


def test_code_digest_follows_the_agent_code(tmp_path, monkeypatch):
    code = tmp_path / "loop.py"
    code.write_text("x = 1\n")
    monkeypatch.setattr(keeperpath, "_code_files", lambda: [code])
    monkeypatch.setattr(keeperpath, "_DIGEST", [])
    before = keeperpath.digest()
    code.write_text("x = 22\n")
    monkeypatch.setattr(keeperpath, "_DIGEST", [])
    assert keeperpath.digest() != before  # a new tk version never talks to an old keeper


def test_password_connections_are_never_kept(lab, runner):
    first = runner.play("one", "-e", "ansible_password=not-used-keys-win")
    second = runner.play("two", "-e", "ansible_password=not-used-keys-win")
    assert sorted(first) == sorted(_names(lab))
    assert fresh(first, second)
    assert runner.status() == []
    become = runner.play("three", "-b", "-e", "ansible_become_password=pw")
    assert fresh(become, second)
    assert runner.status() == []


def test_agent_killed_while_idle_is_replaced(lab, runner):
    first = runner.play("one")
    victim, *others = _names(lab)
    os.kill(_agent_in_host(lab, victim, first[victim]), signal.SIGKILL)
    second = runner.play("two")
    assert second[victim] != first[victim]
    assert all(second[h] == first[h] for h in others)
    assert _file_on(lab, victim) == f"run two on {victim}\n"


def test_sshd_session_killed_while_idle_reconnects(lab, runner):
    first = runner.play("one")
    victim = _names(lab)[1]
    agent = _agent_in_host(lab, victim, first[victim])
    ppid = int(Path(f"/proc/{agent}/stat").read_text().rsplit(")", 1)[1].split()[1])
    os.kill(ppid, signal.SIGKILL)  # the sshd session process holding the agent's channel
    assert _gone(agent)
    second = runner.play("two")
    assert second[victim] != first[victim]
    assert _file_on(lab, victim) == f"run two on {victim}\n"


def test_link_down_while_idle_is_unreachable_as_without_keeper(lab, runner):
    first = runner.play("one")
    victim, *others = _names(lab)
    veth = lab.host(victim).veth
    subprocess.run(["ip", "link", "set", veth, "down"], check=True)
    try:
        quick = ["-e", "ansible_timeout=2"]
        kept = subprocess.run(
            [str(TK), "play", "-i", runner.inventory, "-e", "run=two", *quick, str(runner.book)],
            capture_output=True, text=True, timeout=120, env=runner.env, cwd=runner.dir,
        )  # fmt: skip
        direct = subprocess.run(
            [str(TK), "play", "-i", runner.inventory, "-e", "run=two", *quick, str(runner.book)],
            capture_output=True, text=True, timeout=120, env=dict(runner.env, TK_SSH_PERSIST="0"),
        )  # fmt: skip
    finally:
        subprocess.run(["ip", "link", "set", veth, "up"], check=False)
    for result in (kept, direct):
        assert result.returncode == 4, result.stdout + result.stderr
        assert f"fatal: [{victim}]: UNREACHABLE!" in result.stdout
        assert re.search(rf"^{victim}\s+: ok=0 .*unreachable=1", result.stdout, re.M)

    def message(out: str) -> str:
        return re.search(rf"fatal: \[{victim}\]: UNREACHABLE! => (.*)", out).group(1)

    assert message(kept.stdout) == message(direct.stdout)
    for host in others:
        assert re.search(rf"^{host}\s+: ok=5 .*unreachable=0", kept.stdout, re.M)
        assert _file_on(lab, host) == f"run two on {host}\n"
    third = runner.play("three")  # link back up: the host is served again
    assert third[victim] != first[victim]


def long_playbook(tmp_path, seconds: float):
    """A playbook whose one task, `long`, runs `sleep` on every host."""
    book = tmp_path / "long.yml"
    book.write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        f"    - name: long\n      command: sleep {seconds}\n"
    )
    return book


def test_interrupted_run_throws_its_agents_away(lab, runner, tmp_path):
    first = runner.play("one")
    agents = {h: _agent_in_host(lab, h, p) for h, p in first.items()}
    book = long_playbook(tmp_path, 39.5)
    out, code, _ = interrupt_at_long(
        ["play", "-i", runner.inventory, str(book)], tmp_path, settle=1.0, env=runner.env
    )
    assert code == 99, out
    for host, pid in agents.items():
        assert _gone(pid), f"agent of {host} still running"
    assert runner.status() == []
    second = runner.play("two")
    assert fresh(second, first)
    assert runner.play("three") == second  # the fresh agents are kept as usual


def test_killed_controller_agents_not_reused(lab, runner, tmp_path):
    first = runner.play("one")
    agents = {h: _agent_in_host(lab, h, p) for h, p in first.items()}
    book = long_playbook(tmp_path, 38.5)
    proc = subprocess.Popen(
        [str(TK), "play", "-i", runner.inventory, str(book)], env=runner.env, cwd=runner.dir,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint,
    )  # fmt: skip
    try:
        for line in proc.stdout:
            if line.startswith("TASK [long]"):
                break
        time.sleep(1.0)
        proc.kill()
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    for host, pid in agents.items():
        assert _gone(pid), f"agent of {host} still running"
    second = runner.play("two")
    assert fresh(second, first)


def test_idle_agents_closed_and_keeper_exits(lab, runner):
    runner.env["TK_SSH_PERSIST"] = "1.5"
    first = runner.play("one")
    agents = {h: _agent_in_host(lab, h, p) for h, p in first.items()}
    [keeper] = runner.keeper_pids()
    assert os.path.exists(f"/proc/{keeper}")
    for host, pid in agents.items():
        assert _gone(pid, within=15), f"idle agent of {host} still running"
    assert _gone(keeper, within=15), "the keeper did not exit"
    assert list(runner.keeper_dir.glob("keeper-*.sock")) == []


def test_persist_zero_is_direct(lab, runner):
    first = runner.play("one", TK_SSH_PERSIST="0")
    second = runner.play("two", TK_SSH_PERSIST="0")
    assert fresh(first, second)
    assert not runner.keeper_dir.exists() or runner.keeper_pids() == []


def test_permissions_and_other_uid_refused(lab, runner):
    # a keeper dir nobody could reach if its modes allowed (pytest's tmp dirs are private)
    outside = Path(tempfile.mkdtemp(prefix="tkt-keeper-perm-", dir="/tmp"))
    os.chmod(outside, 0o711)
    runner.keeper_dir = outside / "kd"
    runner.env["TK_KEEPER_DIR"] = str(runner.keeper_dir)
    try:
        _check_permissions(runner)
    finally:
        runner.stop()
        shutil.rmtree(outside, ignore_errors=True)


def _check_permissions(runner: Runner) -> None:
    runner.play("one")
    directory = runner.keeper_dir
    [sock] = directory.glob("keeper-*.sock")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    probe = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX)\n"
        "s.connect(sys.argv[1]); s.settimeout(10)\n"
        "try:\n"
        '    s.sendall(b\'{"op": "status"}\\n\'); data = s.recv(65536)\n'
        "except (BrokenPipeError, ConnectionResetError):\n"
        "    data = b''\n"
        "print('REPLY', data)\n"
    )
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    python = os.path.realpath(sys.executable)
    denied = subprocess.run([*as_nobody, python, "-c", probe, str(sock)], capture_output=True,
                            text=True, timeout=30)  # fmt: skip
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    # even with the file modes opened up, the keeper itself refuses another uid
    os.chmod(directory, 0o711)
    os.chmod(sock, 0o666)
    try:
        refused = subprocess.run([*as_nobody, python, "-c", probe, str(sock)],
                                 capture_output=True, text=True, timeout=30)  # fmt: skip
    finally:
        os.chmod(directory, 0o700)
        os.chmod(sock, 0o600)
    assert refused.stdout.strip() == "REPLY b''", refused.stdout + refused.stderr
    assert len(runner.status()) == 3  # its own user still gets answers


def test_no_keeper_possible_connects_directly(lab, runner):
    blocker = runner.dir / "not-a-dir"
    blocker.write_text("")
    runner.env["TK_KEEPER_DIR"] = str(blocker / "kd")  # cannot be made
    first = runner.play("one", "-v")
    assert sorted(first) == sorted(_names(lab))
    result = subprocess.run(
        [str(TK), "play", "-v", "-i", runner.inventory, "-e", "run=two", str(runner.book)],
        capture_output=True, text=True, timeout=240, env=runner.env, cwd=runner.dir,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.count("persistent connections off") == 1, result.stderr
    assert _file_on(lab, _names(lab)[0]) == f"run two on {_names(lab)[0]}\n"


def test_frame_counter_counts_whole_frames_fed_in_any_pieces():
    from toolkit.transport.keeper import Counter
    from toolkit.transport.rpc import encode

    stream = b"".join(encode({"id": i, "op": "ping", "pad": "x" * i * 7}) for i in range(50))
    for size in (1, 3, 4, 5, 97, len(stream)):
        counter = Counter()
        for i in range(0, len(stream), size):
            counter.feed(stream[i : i + size])
        assert (counter.frames, counter.boundary) == (50, True)
    half = Counter()
    half.feed(stream[:10])  # a header and part of a body: not a place to stop
    assert (half.frames, half.boundary) == (0, False)


def test_relative_key_path_resolves_in_the_controllers_directory(lab, runner, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for project in (one, two):
        (project / "keys").mkdir(parents=True)
        shutil.copy(lab.key_file, project / "keys" / "id")
    relative = ("-e", "ansible_ssh_private_key_file=keys/id")
    first = runner.play("one", *relative, cwd=one)
    assert runner.play("two", *relative, cwd=one) == first  # kept, key found in ./keys
    # another directory is another keeper: its keys/id may be another key
    other = runner.play("three", *relative, cwd=two)
    assert fresh(other, first)
    assert len(runner.keeper_pids()) == 2


def test_two_controllers_at_once_start_one_keeper(lab, runner, tmp_path):
    # a task that holds its agent for a while: the two runs overlap however fast they start
    book = long_playbook(tmp_path, 1.5)
    argv = [str(TK), "play", "-i", runner.inventory, str(book)]
    procs = [
        subprocess.Popen(
            argv,
            env=runner.env,
            cwd=runner.dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert len(runner.keeper_pids()) == 1
    assert len(runner.status()) == 6  # each run had its own agents; all are kept


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _kill_agent_mid_task(lab, runner, host: str, **env: str) -> str:
    """Run a long task on `host`, kill its agent while it runs; the run's UNREACHABLE message."""
    book = runner.dir / "killed.yml"
    book.write_text(
        f"- hosts: {host}\n  gather_facts: false\n  tasks:\n"
        "    - ping:\n    - name: long\n      command: sleep 37.5\n"
    )
    proc = subprocess.Popen(
        [str(TK), "play", "-i", runner.inventory, str(book)], env=dict(runner.env, **env),
        cwd=runner.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        sleeping = []
        deadline = time.monotonic() + 30
        while not sleeping and time.monotonic() < deadline:
            sleeping = [int(p) for p in os.listdir("/proc") if _cmdline(p) == "sleep 37.5"]
            time.sleep(0.05)
        [sleep] = sleeping
        child = _ppid(sleep)
        agent = _ppid(child)  # sleep <- the module's forked child <- the agent
        assert "tk-agent-ready" in _cmdline(str(agent))
        for pid in (agent, child, sleep):  # all of them: they hold the channel open
            os.kill(pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 4, out
    return re.search(rf"fatal: \[{host}\]: UNREACHABLE! => (.*)", out).group(1)


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def test_agent_dying_mid_task_reads_as_without_keeper(lab, runner):
    host = _names(lab)[2]
    runner.play("one")  # the agent the next run uses is a kept one
    kept = _kill_agent_mid_task(lab, runner, host)
    direct = _kill_agent_mid_task(lab, runner, host, TK_SSH_PERSIST="0")
    assert "the agent died (end of stream" in direct
    # a direct connection adds sshd's exit status when it has come in by then (a race in
    # ssh.py); the keeper waits for it (up to 1 s): the same message, or that one plus it
    without_status = direct.replace(": exit code -1)", ")")
    assert kept in (without_status, without_status.replace(')"}', ': exit code -1)"}'))
    assert kept.endswith(': exit code -1)"}'), kept


def test_keepers_started_together_leave_one(tmp_path):
    env = dict(os.environ, TK_KEEPER_DIR=str(tmp_path / "kd"), TK_SSH_PERSIST="30")
    argv = [sys.executable, "-m", "toolkit.transport.keeper"]
    try:
        starters = [subprocess.Popen(argv, env=env, cwd=tmp_path) for _ in range(4)]
        assert [p.wait(timeout=30) for p in starters] == [0, 0, 0, 0]
        [pidfile] = (tmp_path / "kd").glob("keeper-*.pid")
        deadline = time.monotonic() + 10
        while not list((tmp_path / "kd").glob("keeper-*.sock")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the losers have looked at the pidfile lock and gone by now
        keepers = [p for p in os.listdir("/proc") if "toolkit.transport.keeper" in _cmdline(p)]
        mine = [p for p in keepers if _environ_has(p, str(tmp_path / "kd"))]
        assert mine == [pidfile.read_text().strip()]
        status = subprocess.run([str(TK), "keeper", "status"], env=env, capture_output=True,
                                text=True, timeout=30)  # fmt: skip
        assert f"keepers: {mine[0]}" in status.stdout
    finally:
        stop_keepers(tmp_path / "kd")


def _environ_has(pid: str, text: str) -> bool:
    try:
        return text.encode() in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
