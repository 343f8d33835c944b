"""Fleet faults on real lab hosts over SSH, with `tk play` run as a user runs it.

A host whose sshd (its PID 1) is killed and a host whose link goes down mid-play are dropped as
UNREACHABLE while the others finish (exit 4); after restoring them a rerun converges and leaves no
temp files beside the destinations. A changed host key fails that host before anything runs.
Bad targets (wrong key, wrong user, closed port, unresolvable name, no Python) give one clear line
each. The become password and no_log values never show in output, -vvvv output or `ps`. Forks
bound the hosts in flight. Ctrl-C stops cleanly with the recap so far.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from tests.e2e.tkrun import TK, default_sigint, interrupt_at_long, recap
from toolkit.lab import Lab

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="lab hosts need root"),
]

TEMP_NAME = re.compile(r"^\.tk-|\.tktmp$|\.tmp$|^tk-mod-")
BECOME_PASSWORD = "Fl33t-bec0me-Pw"
NOLOG_SECRET = "Zq-n0log-77-81"
USER_SETUP = r"""
R=$1
useradd -R "$R" -m -s /bin/sh fleet
mkdir -p "$R/home/fleet/.ssh"
cp "$R/root/.ssh/authorized_keys" "$R/home/fleet/.ssh/"
id=$(awk -F: '$1 == "fleet" {print $3 ":" $4}' "$R/etc/passwd")
chown -R "$id" "$R/home/fleet"
printf '%s\n' 'fleet:{pw}' | chpasswd -R "$R"
echo 'fleet ALL=(ALL:ALL) ALL' > "$R/etc/sudoers.d/tk-fleet"
chmod 0440 "$R/etc/sudoers.d/tk-fleet"
""".replace("{pw}", BECOME_PASSWORD)
NO_PYTHON_SETUP = r"""
R=$1
for p in "$R"/usr/bin/python* "$R"/usr/local/bin/python* "$R"/bin/python*; do
  [ -e "$p" ] || [ -L "$p" ] && rm -f "$p"
done
true
"""


# -- helpers ------------------------------------------------------------------------------------
def _env() -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TK_FORCE_COLOR")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def tk(*args: str, cwd: Path, stdin: Optional[str] = None, timeout: float = 180):
    return subprocess.run(
        [str(TK), *args], cwd=cwd, env=_env(), input=stdin, capture_output=True, text=True,
        timeout=timeout, preexec_fn=default_sigint,
    )  # fmt: skip


def start_tk(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [str(TK), *args], cwd=cwd, env=_env(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
        preexec_fn=default_sigint,
    )  # fmt: skip


def on_host(lab: Lab, host: str, path: str) -> Path:
    """A path inside a running lab host, seen from the machine through its PID 1's root."""
    return Path(f"/proc/{lab.host(host).pid1}/root{path}")


def lines_about(output: str, host: str) -> List[str]:
    return [line for line in output.splitlines() if f"[{host}]" in line or line.startswith(host)]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def inventory(path: Path, lab: Lab, extra: Dict[str, Dict[str, str]] = (), **common) -> Path:
    """An INI inventory of the lab's hosts (plus `extra` hosts) with per-host variables."""
    lines = ["[fleet]"]
    for host in lab.hosts:
        lines.append(f"{host.name} ansible_host={host.address}")
    for name, hostvars in dict(extra).items():
        lines.append(name + "".join(f" {k}={v}" for k, v in hostvars.items()))
    lines += ["", "[fleet:vars]", "ansible_user=root",
              f"ansible_ssh_private_key_file={lab.key_file}"]  # fmt: skip
    known = common.pop("known_hosts", lab.known_hosts)
    lines.append(
        f"ansible_ssh_common_args='-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes'"
    )
    lines += [f"{k}={v}" for k, v in common.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def fleet(lab_hosts) -> Lab:
    """Six lab hosts of our own (the fault tests kill, cut and re-key them)."""
    lab = lab_hosts(6, name="f")
    lab.up(6)  # a previous test of this module may have left one dead
    return lab


@pytest.fixture
def healthy(fleet: Lab) -> Lab:
    """The fleet with every host running and every link up, before and after the test."""
    _restore(fleet)
    yield fleet
    _restore(fleet)


def _restore(lab: Lab) -> None:
    for host in lab.hosts:
        subprocess.run(["ip", "link", "set", host.veth, "up"], check=False)
    lab.up(len(lab.hosts))


# -- unreachable mid-play, then restore and converge ----------------------------------------------
FAULT_PLAY = """\
- hosts: fleet
  gather_facts: false
  tasks:
    - name: prepare
      file: path=/srv/fleet state=directory mode=0755
    - name: big copy
      copy: src={big} dest=/srv/fleet/big.bin mode=0644
    - name: slow
      command: sleep 2
      changed_when: false
    - name: settings
      copy:
        content: "host={{{{ inventory_hostname }}}}\\nfleet=yes\\n"
        dest: /srv/fleet/settings.conf
    - name: line
      lineinfile: path=/srv/fleet/settings.conf line="fleet=yes"
"""
EXPECTED_FILES = ["big.bin", "settings.conf"]


def _wait_for_upload(lab: Lab, host: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until `host` has a half-written temp file of the big copy in /srv/fleet."""
    directory = on_host(lab, host, "/srv/fleet")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if any(TEMP_NAME.search(name) for name in os.listdir(directory)):
                return
        except OSError:
            pass
        time.sleep(0.002)
    raise AssertionError(f"no upload in progress seen on {host}")


def _leftovers(lab: Lab) -> Dict[str, List[str]]:
    found = {}
    for host in lab.hosts:
        names = sorted(os.listdir(on_host(lab, host.name, "/srv/fleet")))
        if names != EXPECTED_FILES:
            found[host.name] = names
    return found


def _fault_setup(lab: Lab, tmp_path: Path, command_timeout: Optional[str]):
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * 48)  # 48 MB: long enough to act mid-transfer
    book = write(tmp_path / "fault.yml", FAULT_PLAY.format(big=big))
    extra = {"tk_command_timeout": command_timeout} if command_timeout else {}
    return book, inventory(tmp_path / "inv.ini", lab, **extra)


def _read_until(proc: subprocess.Popen, prefix: str, seen: List[str]) -> None:
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(prefix):
            return
    raise AssertionError("".join(seen) + f"\nno {prefix!r} line")


def _finish(proc: subprocess.Popen, seen: List[str], timeout: float) -> str:
    try:
        rest, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return "".join(seen) + rest


def test_sshd_killed_and_link_down_mid_play_then_rerun_converges(healthy, tmp_path):
    """sshd killed during an upload, link cut during a command (tk_command_timeout bounds it)."""
    book, inv = _fault_setup(healthy, tmp_path, "6")
    killed, cut = healthy.hosts[1], healthy.hosts[2]
    proc = start_tk("play", "-i", str(inv), str(book), cwd=tmp_path)
    seen: List[str] = []
    _wait_for_upload(healthy, killed.name, proc)
    os.kill(killed.pid1, signal.SIGKILL)
    _read_until(proc, "TASK [slow]", seen)
    time.sleep(0.5)
    subprocess.run(["ip", "link", "set", cut.veth, "down"], check=True)
    out = _finish(proc, seen, timeout=120)
    assert "Traceback" not in out, out
    assert proc.returncode == 4, out
    counts = recap(out)
    for host in (killed.name, cut.name):
        assert counts[host]["unreachable"] == 1, out
        assert len(re.findall(rf"fatal: \[{host}\]: UNREACHABLE!", out)) == 1, out
    for host in healthy.hosts:
        if host.name not in (killed.name, cut.name):
            assert counts[host.name]["ok"] == 5, out
            assert counts[host.name]["unreachable"] + counts[host.name]["failed"] == 0, out
            conf = on_host(healthy, host.name, "/srv/fleet/settings.conf").read_text()
            assert conf == f"host={host.name}\nfleet=yes\n"

    _restore(healthy)  # the killed host comes back (fresh root, same key), the link goes up
    again = tk("play", "-i", str(inv), str(book), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(c["unreachable"] == 0 and c["failed"] == 0 for c in recap(again.stdout).values())
    assert _leftovers(healthy) == {}
    third = tk("play", "-i", str(inv), str(book), cwd=tmp_path)
    assert third.returncode == 0, third.stdout + third.stderr
    changed = {h: c["changed"] for h, c in recap(third.stdout).items()}
    assert changed == {h.name: 0 for h in healthy.hosts}, third.stdout


def test_link_down_during_an_upload_is_detected(healthy, tmp_path):
    book, inv = _fault_setup(healthy, tmp_path, None)
    cut = healthy.hosts[2]
    proc = start_tk("play", "-i", str(inv), str(book), cwd=tmp_path)
    _wait_for_upload(healthy, cut.name, proc)
    subprocess.run(["ip", "link", "set", cut.veth, "down"], check=True)
    try:
        out = _finish(proc, [], timeout=75)
    except subprocess.TimeoutExpired:
        pytest.fail("tk play still waiting on the cut host after 75s")
    assert proc.returncode == 4, out
    assert recap(out)[cut.name]["unreachable"] == 1, out
    _restore(healthy)
    again = tk("play", "-i", str(inv), str(book), cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _leftovers(healthy) == {}


# -- host keys ----------------------------------------------------------------------------------
MARK_PLAY = """\
- hosts: fleet
  gather_facts: false
  tasks:
    - copy:
        content: "marked\\n"
        dest: /srv/mark.txt
"""


def test_changed_host_key_fails_that_host_before_any_command(healthy, tmp_path):
    known = tmp_path / "known_hosts"
    shutil.copy(healthy.known_hosts, known)  # what the controller knew before the change
    before = known.read_text()
    rekeyed = healthy.hosts[3].name
    healthy.restart_host(rekeyed, new_host_key=True)
    inv = inventory(tmp_path / "inv.ini", healthy, known_hosts=str(known))
    result = tk("play", "-i", str(inv), str(write(tmp_path / "m.yml", MARK_PLAY)), cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 4, out
    assert "Traceback" not in out
    about = [line for line in lines_about(result.stdout, rekeyed) if "UNREACHABLE" in line]
    assert len(about) == 1, out
    assert "HOST KEY CHANGED" in about[0] and about[0].count("SHA256:") == 2, about[0]
    assert not on_host(healthy, rekeyed, "/srv/mark.txt").exists()
    for host in healthy.hosts:
        if host.name != rekeyed:
            assert on_host(healthy, host.name, "/srv/mark.txt").read_text() == "marked\n"
    assert known.read_text() == before  # a changed key is never "learned"


# -- bad targets: one clear message each --------------------------------------------------------
def test_bad_targets_give_one_clear_message_each(healthy, lab_hosts, tmp_path):
    bare = lab_hosts(1, name="p")
    bare_host = bare.hosts[0]
    bare.restart_host(bare_host.name, setup=NO_PYTHON_SETUP)
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                   check=True)  # fmt: skip
    address = healthy.hosts[0].address
    shutil.copy(healthy.known_hosts, tmp_path / "known_hosts")
    with open(tmp_path / "known_hosts", "a") as fh, open(bare.known_hosts) as other:
        fh.write(other.read())
    bad = {
        "wrongkey": {"ansible_host": address, "ansible_ssh_private_key_file": str(stranger)},
        "wronguser": {"ansible_host": address, "ansible_user": "nobody"},
        "closedport": {"ansible_host": address, "ansible_port": "2"},
        "nodns": {"ansible_host": "no-such-host.invalid"},
        "nopython": {
            "ansible_host": bare_host.address,
            "ansible_ssh_private_key_file": bare.key_file,
        },
    }
    expect = {
        "wrongkey": "Permission denied",
        "wronguser": "Permission denied",
        "closedport": "Connection refused",
        "nodns": "could not resolve hostname",
        "nopython": "no Python interpreter found",
    }
    inv = inventory(tmp_path / "inv.ini", healthy, extra=bad,
                    known_hosts=str(tmp_path / "known_hosts"))  # fmt: skip
    book = write(tmp_path / "p.yml", MARK_PLAY + "    - ping:\n")
    result = tk("play", "-i", str(inv), str(book), "-l", "wrongkey,wronguser,closedport,nodns,"
                f"nopython,{healthy.hosts[0].name}", cwd=tmp_path, timeout=120)  # fmt: skip
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    assert result.returncode == 4, out
    counts = recap(result.stdout)
    assert counts[healthy.hosts[0].name]["ok"] == 2, out
    for host, words in expect.items():
        messages = [line for line in lines_about(out, host) if "UNREACHABLE" in line]
        assert len(messages) == 1, f"{host}: {messages}\n{out}"
        assert words in messages[0], f"{host}: {messages[0]}"
        assert counts[host]["unreachable"] == 1


# -- secrets --------------------------------------------------------------------------------------
SECRET_PLAY = """\
- hosts: fleet
  gather_facts: false
  vars:
    secret: "{secret}"
  tasks:
    - name: under become
      become: true
      command: sleep 1.5
    - name: whoami
      become: true
      command: id -u
      register: whoami
    - copy:
        content: "{{{{ secret }}}}\\n"
        dest: /tmp/fleet-secret.txt
        mode: "0600"
      no_log: true
    - lineinfile: path=/tmp/fleet-secret.txt line="again {{{{ secret }}}}"
      no_log: true
    - set_fact:
        kept: "{{{{ secret }}}}"
      no_log: true
    - debug: msg="{{{{ kept }}}}"
      no_log: true
    - command: cat /tmp/fleet-secret.txt
      no_log: true
      register: shown
    - fail: msg="{{{{ secret }}}}"
      no_log: true
      ignore_errors: true
    - assert:
        that: whoami.stdout == "0" and shown.stdout == secret + "\\nagain " + secret
"""


class ProcessWatcher:
    """Reads every process's command line on the machine (lab hosts included) until stopped."""

    def __init__(self) -> None:
        self.seen: set = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as fh:
                            self.seen.add(fh.read().replace(b"\0", b" ").decode(errors="replace"))
                    except OSError:
                        pass
            time.sleep(0.02)

    def __enter__(self) -> ProcessWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def test_become_password_and_no_log_values_never_shown(healthy, tmp_path):
    host = healthy.hosts[0].name
    healthy.restart_host(host, setup=USER_SETUP)
    inv = inventory(tmp_path / "inv.ini", healthy)
    inv.write_text(inv.read_text().replace(f"{host} ", f"{host} ansible_user=fleet ", 1))
    book = write(tmp_path / "s.yml", SECRET_PLAY.format(secret=NOLOG_SECRET))
    outputs = []
    secret_vars = write(tmp_path / "become.yml", f"ansible_become_password: {BECOME_PASSWORD}\n")
    runs = [["-K"], ["-vvvv", "-e", f"@{secret_vars}"]]  # asked on stdin; from a vars file
    with ProcessWatcher() as watcher:
        for extra in runs:
            result = tk("play", *extra, "-i", str(inv), str(book), "-l", host,
                        cwd=tmp_path, stdin=BECOME_PASSWORD + "\n")  # fmt: skip
            outputs.append(result.stdout + result.stderr)
            assert result.returncode == 0, outputs[-1]
            assert recap(result.stdout)[host]["failed"] == 0, outputs[-1]
    assert any("sudo" in cmd and "python" in cmd for cmd in watcher.seen)  # we saw the agent
    processes = "\n".join(watcher.seen)
    for text in outputs + [processes]:
        assert BECOME_PASSWORD not in text
        assert NOLOG_SECRET not in text
    assert "censored" in outputs[0] or "hidden" in outputs[0]
    assert len(outputs[1]) > len(outputs[0])  # -vvvv did say more
    secret_file = on_host(healthy, host, "/tmp/fleet-secret.txt")
    assert secret_file.read_text() == f"{NOLOG_SECRET}\nagain {NOLOG_SECRET}\n"


# -- forks ----------------------------------------------------------------------------------------
FORKS_PLAY = """\
- hosts: fleet
  gather_facts: false
  tasks:
    - name: timed
      shell: date +%s.%N; sleep 0.6; date +%s.%N
"""


def _most_at_once(spans: List[tuple]) -> int:
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    now = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        now += step
        peak = max(peak, now)
    return peak


def test_forks_bound_the_hosts_in_flight(healthy, tmp_path):
    inv = inventory(tmp_path / "inv.ini", healthy)
    book = write(tmp_path / "f.yml", FORKS_PLAY)
    result = tk("play", "--json", "-f", "2", "-i", str(inv), str(book), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads(result.stdout)
    task = next(t for t in doc["plays"][0]["tasks"] if t["task"]["name"] == "timed")
    spans = [tuple(map(float, r["stdout"].split())) for r in task["hosts"].values()]
    assert len(spans) == 6
    assert _most_at_once(spans) == 2, spans


# -- Ctrl-C ---------------------------------------------------------------------------------------
LONG_PLAY = """\
- hosts: fleet
  gather_facts: false
  tasks:
    - name: first
      ping:
    - name: long
      command: sleep 20
    - name: never
      ping:
"""


def test_ctrl_c_stops_cleanly_with_the_recap_so_far(healthy, tmp_path):
    inv = inventory(tmp_path / "inv.ini", healthy)
    book = write(tmp_path / "l.yml", LONG_PLAY)
    args = ["play", "-i", str(inv), str(book)]
    out, code, took = interrupt_at_long(args, tmp_path, settle=1.0, env=_env(), timeout=40)
    assert "Traceback" not in out, out
    assert code != 0, out
    assert took < 10, f"took {took:.1f}s to stop\n{out}"
    assert "TASK [never]" not in out
    counts = recap(out)
    assert {h.name for h in healthy.hosts} <= set(counts), out
    assert all(c["ok"] >= 1 for c in counts.values()), out
