"""File modules and actions from a playbook: `tk play` on localhost (local agent), twice for
idempotence, then --check --diff with a changed variable."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars:
    out: {out}
    port: 80
  tasks:
    - name: config dir
      ansible.builtin.file: {{path: "{{{{ out }}}}/etc", state: directory, mode: "0750"}}
    - name: rendered config
      ansible.builtin.template:
        src: app.conf.j2
        dest: "{{{{ out }}}}/etc/app.conf"
        mode: "0640"
        validate: grep -q port %s
    - name: static tree
      copy: {{src: site/, dest: "{{{{ out }}}}/www"}}
    - name: hosts line
      lineinfile: {{path: "{{{{ out }}}}/etc/hosts", line: "127.0.0.1 localhost", create: true}}
    - name: block
      blockinfile: {{path: "{{{{ out }}}}/etc/hosts", block: "10.0.0.1 db"}}
    - name: seed once
      copy: {{content: "mode=debug\\n", dest: "{{{{ out }}}}/etc/extra", force: false}}
    - name: replace
      replace: {{path: "{{{{ out }}}}/etc/extra", regexp: "debug", replace: "prod"}}
    - name: fetch back
      fetch: {{src: "{{{{ out }}}}/etc/app.conf", dest: "{{{{ out }}}}/fetched/", flat: true}}
"""


def tk_play(workdir, *extra):
    proc = subprocess.run(
        [sys.executable, "-m", "toolkit", "play", "-i", "localhost,", "pb.yml", *extra],
        cwd=str(workdir),
        env=dict(os.environ, PYTHONPATH=REPO),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def project(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "app.conf.j2").write_text("port={{ port }}\n")
    (tmp_path / "files" / "site" / "img").mkdir(parents=True)
    (tmp_path / "files" / "site" / "index.html").write_text("<p>hi</p>\n")
    (tmp_path / "files" / "site" / "img" / "logo.bin").write_bytes(os.urandom(200000))
    out = tmp_path / "out"
    (tmp_path / "pb.yml").write_text(PLAYBOOK.format(out=out))
    return tmp_path


def test_playbook_first_run_second_run_and_check_diff(project):
    out = project / "out"
    rc, text = tk_play(project)
    assert rc == 0, text
    assert "changed=8" in text, text
    assert (out / "etc" / "app.conf").read_text() == "port=80\n"
    assert oct(os.stat(str(out / "etc" / "app.conf")).st_mode & 0o777) == "0o640"
    assert (out / "www" / "img" / "logo.bin").read_bytes() == (
        project / "files" / "site" / "img" / "logo.bin"
    ).read_bytes()
    assert (out / "etc" / "hosts").read_text() == (
        "127.0.0.1 localhost\n# BEGIN ANSIBLE MANAGED BLOCK\n10.0.0.1 db\n"
        "# END ANSIBLE MANAGED BLOCK\n"
    )
    assert (out / "etc" / "extra").read_text() == "mode=prod\n"
    assert (out / "fetched" / "app.conf").read_text() == "port=80\n"

    rc, text = tk_play(project)
    assert rc == 0 and "changed=0" in text, text

    before = (out / "etc" / "app.conf").read_text()
    rc, text = tk_play(project, "--check", "--diff", "-e", "port=8080")
    assert rc == 0, text
    assert "+port=8080" in text and "-port=80" in text
    assert (out / "etc" / "app.conf").read_text() == before
