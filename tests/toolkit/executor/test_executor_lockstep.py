"""Linear strategy lockstep after a rescue, and included tasks kept in step and in order
(Ansible's flat task list with a cursor), on two local hosts."""

from __future__ import annotations

from test_executor_play import play

INVENTORY = "[web]\nweb1\nweb2\n[web:vars]\nansible_connection=local\n"


def _order(rec):
    return [(e.task_name, e.host) for e in rec.events]


def test_rescue_keeps_lockstep(tmp_path):
    inv = tmp_path / "inv.ini"
    inv.write_text(INVENTORY)
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: web
          gather_facts: false
          tasks:
            - block:
                - name: fails
                  command: /bin/false
                  when: inventory_hostname == 'web1'
                - name: after
                  debug: msg=after
              rescue:
                - name: rescue
                  debug: msg=rescue
              always:
                - name: always
                  debug: msg=always
            - name: next
              debug: msg=next
              changed_when: true
              notify: h
          handlers:
            - name: h
              debug: msg=handler
        """,
        inventory=str(inv),
        forks=1,
    )
    assert code == 0
    assert _order(rec) == [
        ("fails", "web1"), ("fails", "web2"),
        ("after", "web2"),
        ("rescue", "web1"),
        ("always", "web1"), ("always", "web2"),
        ("next", "web1"), ("next", "web2"),
        ("h", "web1"), ("h", "web2"),
    ]  # fmt: skip
    assert rec.handlers == ["h"]
    assert stats["web1"]["rescued"] == 1 and stats["web1"]["failures"] == 0


def test_include_loop_runs_in_step(tmp_path):
    inv = tmp_path / "inv.ini"
    inv.write_text(INVENTORY)
    (tmp_path / "inc.yml").write_text(
        "- name: first {{ item }}\n  debug: msg=a{{ item }}\n"
        "- name: second\n  debug: msg=b{{ item }}\n"
    )
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: web
          gather_facts: false
          tasks:
            - include_tasks: inc.yml
              loop: [1, 2]
            - name: last
              debug: msg=last
        """,
        inventory=str(inv),
        forks=1,
    )
    assert code == 0
    rows = [(e.host, e.result.get("msg")) for e in rec.events if e.action == "debug"]
    assert rows == [
        ("web1", "a1"), ("web2", "a1"), ("web1", "b1"), ("web2", "b1"),
        ("web1", "a2"), ("web2", "a2"), ("web1", "b2"), ("web2", "b2"),
        ("web1", "last"), ("web2", "last"),
    ]  # fmt: skip
    # Ansible counts one ok per included file (2), not one for the include task
    assert stats["web1"]["ok"] == 2 + 4 + 1 and stats["web2"]["ok"] == 7
