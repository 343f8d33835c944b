"""copy/template/fetch over SSH to lab hosts (real sshd in network namespaces): per-host
rendering, a streamed binary file, become to another user, fetch back under dest/HOST/."""

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="needs root")]

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

PLAYBOOK = """
- hosts: {hosts}
  gather_facts: false
  tasks:
    - file: {{path: /srv/tkt-files, state: directory, mode: "0755"}}
    - template: {{src: who.j2, dest: /srv/tkt-files/who, mode: "0644"}}
    - copy: {{src: blob.bin, dest: /srv/tkt-files/}}
    - copy: {{content: "mine\\\\n", dest: /tmp/tkt-nobody, mode: "0600"}}
      become: true
      become_user: nobody
    - fetch: {{src: /srv/tkt-files/who, dest: fetched}}
    - fetch: {{src: /srv/tkt-files/blob.bin, dest: fetched}}
    - stat: {{path: /tmp/tkt-nobody}}
      register: st
    - assert:
        that: [st.stat.pw_name == 'nobody', st.stat.mode == '0600']
"""


def tk_play(workdir, inventory):
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit", "play", "-i", inventory, "pb.yml"],
        cwd=str(workdir), env=dict(os.environ, PYTHONPATH=REPO), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


def test_file_actions_over_ssh(lab, tmp_path):
    hosts = [h.name for h in lab.hosts[:2]]
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "who.j2").write_text("I am {{ inventory_hostname }}\n")
    (tmp_path / "files").mkdir()
    blob = os.urandom(3 * 1024 * 1024)
    (tmp_path / "files" / "blob.bin").write_bytes(blob)
    (tmp_path / "pb.yml").write_text(PLAYBOOK.format(hosts=",".join(hosts)))
    rc, text = tk_play(tmp_path, lab.inventory)
    assert rc == 0, text
    for host in hosts:
        base = tmp_path / "fetched" / host / "srv" / "tkt-files"
        assert (base / "who").read_text() == f"I am {host}\n"
        assert (base / "blob.bin").read_bytes() == blob
    rc, text = tk_play(tmp_path, lab.inventory)
    assert rc == 0 and text.count("changed=0") == len(hosts), text
