"""Executor semantics on real playbooks, in-process, against localhost (local agent).

Each test writes a small playbook, runs it through PlaybookRunner with a recording callback
and checks what a user would see: recap counts, which tasks ran on which host, exit codes.
"""

from __future__ import annotations

import textwrap
from typing import Any, Dict, List

import pytest

from toolkit.executor.options import Options
from toolkit.executor.runner import PlaybookRunner
from toolkit.inventory import Inventory
from toolkit.output.base import Callback, HostEvent
from toolkit.playbook.loader import load_playbook


class Recorder(Callback):
    def __init__(self) -> None:
        self.events: List[HostEvent] = []
        self.items: List[HostEvent] = []
        self.tasks: List[str] = []
        self.handlers: List[str] = []
        self.retries: List[int] = []
        self.warnings: List[str] = []
        self.plays: List[str] = []

    def play_start(self, name, play_id="", path=""):
        self.plays.append(name)

    def task_start(self, name, *, handler=False, task_id="", path="", hosts=0):
        (self.handlers if handler else self.tasks).append(name)

    def host_result(self, event):
        self.events.append(event)

    def item_result(self, event):
        self.items.append(event)

    def retry(self, host, task_name, retries_left, result):
        self.retries.append(retries_left)

    def warning(self, text):
        self.warnings.append(text)

    def msgs(self, host: str = "localhost") -> List[Any]:
        return [e.result.get("msg") for e in self.events if e.host == host and e.action == "debug"]


def play(tmp_path, text: str, inventory: str = "localhost,", **opts: Any):
    book = tmp_path / "play.yml"
    book.write_text(textwrap.dedent(text))
    rec = Recorder()
    options = Options(forks=opts.pop("forks", 5), **opts)
    runner = PlaybookRunner(load_playbook(str(book)), Inventory.load([inventory]), options, rec)
    code = runner.run()
    stats = {h: runner.stats.summary(h) for h in runner.stats.hosts()}
    return code, stats, rec


def counts(stats: Dict[str, Dict[str, int]], host: str = "localhost") -> Dict[str, int]:
    s = stats[host]
    return {k: s[k] for k in ("ok", "changed", "failures", "skipped", "rescued", "ignored")}


HOSTS3 = "a,b,c,"
LOCAL3 = {"connection": "local"}


def test_block_rescue_always_and_counts(tmp_path):
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          tasks:
            - block:
                - fail: msg=boom
                - debug: msg=never
              rescue:
                - debug: msg="rescued {{ ansible_failed_result.msg }}"
              always:
                - debug: msg=always
            - debug: msg=after
            - fail: msg=ignored
              ignore_errors: true
            - debug: msg=skipped
              when: false
    """,
    )
    assert code == 0
    assert rec.msgs() == ["rescued boom", "always", "after", None]
    assert counts(stats) == {
        "ok": 4,
        "changed": 0,
        "failures": 0,
        "skipped": 1,
        "rescued": 1,
        "ignored": 1,
    }


def test_failure_stops_host_but_always_runs_and_exit_2(tmp_path):
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          tasks:
            - block:
                - fail: msg=boom
              always:
                - debug: msg=cleanup
            - debug: msg=unreached
        - hosts: localhost
          gather_facts: false
          tasks:
            - debug: msg=second
    """,
    )
    assert code == 2
    assert rec.msgs() == ["cleanup"]
    assert stats["localhost"]["failures"] == 1


def test_handlers_once_in_order_listen_and_flush(tmp_path):
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          tasks:
            - set_fact: a=1
              changed_when: true
              notify: [second, first]
            - set_fact: b=1
              changed_when: true
              notify: topic
            - meta: flush_handlers
            - debug: msg=between
            - set_fact: c=1
              changed_when: true
              notify: first
            - set_fact: d=1
              notify: second
          handlers:
            - name: first
              debug: msg=first
            - name: second
              debug: msg=second
              listen: topic
    """,
    )
    assert code == 0
    assert rec.msgs() == ["first", "second", "between", "first"]
    assert rec.handlers == ["first", "second", "first"]


def test_loops_register_when_per_item_and_labels(tmp_path):
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          tasks:
            - debug: msg="{{ idx }}:{{ thing.n }}"
              loop: [{n: a}, {n: b}, {n: c}]
              loop_control:
                {loop_var: thing, index_var: idx, label: "{{ thing.n }}", extended: true}
              when: thing.n != 'b'
              register: out
            - assert:
                that:
                  - out.results | length == 3
                  - out.results[1].skipped
                  - out.results[2].msg == '2:c'
            - debug: msg="{{ item.key }}={{ item.value }}"
              with_dict: {x: 1}
    """,
    )
    assert code == 0, rec.events
    assert [e.item_label for e in rec.items[:3]] == ["a", "b", "c"]
    assert [e.status for e in rec.items[:3]] == ["ok", "skipped", "ok"]
    assert rec.items[3].result["msg"] == "x=1"
    assert counts(stats)["ok"] == 3


def test_until_retries_attempts(tmp_path):
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          tasks:
            - set_fact: n=0
            - set_fact: n="{{ n | int + 1 }}"
              register: r
              until: n | int >= 3
              retries: 5
              delay: 0
            - assert: {that: ["r.attempts == 3"]}
            - debug: msg=x
              register: never
              until: false
              retries: 1
              delay: 0
    """,
    )
    assert code == 2
    assert rec.retries == [5, 4, 1]
    failed = [e for e in rec.events if e.status == "failed"]
    assert failed[0].result["attempts"] == 2


def test_changed_when_failed_when(tmp_path):
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          tasks:
            - ping:
              register: p
              changed_when: p.ping == 'pong'
            - ping:
              register: p2
              failed_when: "p2.ping == 'pong'"
              ignore_errors: yes
    """,
    )
    assert code == 0
    assert counts(stats) == {
        "ok": 2,
        "changed": 1,
        "failures": 0,
        "skipped": 0,
        "rescued": 0,
        "ignored": 1,
    }


def test_tags_always_never_and_skip(tmp_path):
    text = """
        - hosts: localhost
          gather_facts: false
          tasks:
            - {debug: {msg: plain}}
            - {debug: {msg: tagged}, tags: [web]}
            - {debug: {msg: always}, tags: [always]}
            - {debug: {msg: never}, tags: [never]}
            - {debug: {msg: never-debug}, tags: [never, debug]}
    """
    assert play(tmp_path, text)[2].msgs() == ["plain", "tagged", "always"]
    assert play(tmp_path, text, tags=["web"])[2].msgs() == ["tagged", "always"]
    assert play(tmp_path, text, tags=["debug"])[2].msgs() == ["always", "never-debug"]
    assert play(tmp_path, text, skip_tags=["web"])[2].msgs() == ["plain", "always"]
    assert play(tmp_path, text, tags=["untagged"])[2].msgs() == ["plain", "always"]
    assert play(tmp_path, text, tags=["tagged"])[2].msgs() == ["tagged", "always"]
    assert play(tmp_path, text, start_at_task="debug")[2].msgs() == ["plain", "tagged", "always"]


def test_start_at_task(tmp_path):
    text = """
        - hosts: localhost
          gather_facts: false
          tasks:
            - {name: one, debug: {msg: one}}
            - {name: two, debug: {msg: two}}
            - {name: three, debug: {msg: three}}
    """
    assert play(tmp_path, text, start_at_task="two")[2].msgs() == ["two", "three"]


def test_vars_precedence(tmp_path):
    (tmp_path / "vf.yml").write_text("v_file: file\nshared: from_vars_file\n")
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          vars: {shared: from_play, only_play: play}
          vars_files: [vf.yml]
          tasks:
            - debug: msg="{{ shared }} {{ only_play }} {{ v_file }}"
            - debug: msg="{{ shared }}"
              vars: {shared: from_task}
            - set_fact: shared=from_set_fact
            - debug: msg="{{ shared }}"
              vars: {shared: from_task}
            - debug: msg="{{ extra }} {{ inventory_hostname }} {{ group_names }}"
    """,
        extra_vars={"extra": "E"},
    )
    assert rec.msgs() == [
        "from_vars_file play file",
        "from_task",
        "from_set_fact",
        "E localhost ['ungrouped']",
    ]


def test_linear_multi_host_delegate_run_once(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text("[grp]\na\nb\nc\n[grp:vars]\nansible_connection=local\n")
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: grp
          gather_facts: false
          tasks:
            - ping:
              delegate_to: localhost
            - set_fact: picked="{{ inventory_hostname }}"
              run_once: true
            - debug: msg="{{ picked }}"
    """,
        inventory=str(inv),
    )
    assert code == 0
    pings = [e for e in rec.events if e.action == "ping"]
    assert sorted(e.host for e in pings) == ["a", "b", "c"]
    assert {e.delegated_to for e in pings} == {"localhost"}
    assert sorted(rec.msgs("a") + rec.msgs("b") + rec.msgs("c")) == ["a", "a", "a"]


def test_serial_and_max_fail_percentage(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text("[grp]\na\nb\nc\nd\n")
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: grp
          gather_facts: false
          serial: [1, 3]
          tasks:
            - debug: msg="{{ ansible_play_batch | join(',') }}"
    """,
        inventory=str(inv),
    )
    assert rec.tasks == ["debug", "debug"]
    assert rec.msgs("a") == ["a"] and rec.msgs("b") == ["b,c,d"]
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: grp
          gather_facts: false
          max_fail_percentage: 20
          tasks:
            - fail: msg=x
              when: inventory_hostname == 'a'
            - debug: msg=next
    """,
        inventory=str(inv),
    )
    assert code == 2
    assert [e for e in rec.events if e.result.get("msg") == "next"] == []


def test_any_errors_fatal(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text("a\nb\n")
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: all
          gather_facts: false
          any_errors_fatal: true
          tasks:
            - fail: msg=x
              when: inventory_hostname == 'b'
            - debug: msg=next
    """,
        inventory=str(inv),
    )
    assert code == 2
    assert rec.msgs("a") == []


def test_free_strategy_and_end_host(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text("a\nb\n")
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: all
          gather_facts: false
          strategy: free
          tasks:
            - meta: end_host
              when: inventory_hostname == 'a'
            - debug: msg=one
            - debug: msg=two
    """,
        inventory=str(inv),
    )
    assert code == 0
    assert rec.msgs("a") == [] and rec.msgs("b") == ["one", "two"]


def test_include_tasks_loop_and_include_vars(tmp_path):
    (tmp_path / "inc.yml").write_text("- debug: msg='inc {{ item }} {{ p }}'\n")
    (tmp_path / "vars").mkdir()
    (tmp_path / "vars" / "x.yml").write_text("from_file: yes_it_is\n")
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          tasks:
            - include_tasks: inc.yml
              loop: [1, 2]
              vars: {p: P}
            - include_vars: x.yml
            - debug: msg="{{ from_file }}"
    """,
    )
    assert code == 0, [e.result for e in rec.events]
    assert rec.msgs() == ["inc 1 P", "inc 2 P", "yes_it_is"]


def test_check_mode_per_task(tmp_path):
    target = tmp_path / "f"
    code, stats, rec = play(
        tmp_path,
        f"""
        - hosts: localhost
          gather_facts: false
          tasks:
            - file: path={target} state=touch
            - file: path={target}.real state=touch
              check_mode: false
    """,
        check=True,
    )
    assert code == 0
    assert not target.exists()
    assert (tmp_path / "f.real").exists()
    assert stats["localhost"]["changed"] == 2


def test_undefined_variable_fails_host_with_message(tmp_path):
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          tasks:
            - debug: msg="{{ nope }}"
    """,
    )
    assert code == 2
    assert "nope" in rec.events[0].result["msg"]


@pytest.mark.parametrize("forks", [1, 2])
def test_forks_bound_threads(tmp_path, forks):
    import threading

    inv = tmp_path / "hosts.ini"
    inv.write_text("\n".join(f"h{i}" for i in range(6)) + "\n")
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: all
          gather_facts: false
          tasks:
            - pause: seconds=0.05
    """,
        inventory=str(inv),
        forks=forks,
    )
    assert code == 0
    assert len(stats) == 6
    assert not [t for t in threading.enumerate() if t.name.startswith("tk-fork")]


def test_unreachable_host_dropped_exit_4(tmp_path):
    inv = tmp_path / "hosts.ini"
    inv.write_text(
        "good ansible_connection=local\n"
        "bad ansible_connection=local ansible_python_interpreter=/nonexistent/python3\n"
    )
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: all
          gather_facts: false
          tasks:
            - ping:
            - debug: msg=after
        - hosts: all
          gather_facts: false
          tasks:
            - debug: msg=second
    """,
        inventory=str(inv),
    )
    assert code == 4
    assert stats["bad"]["unreachable"] == 1
    assert rec.msgs("bad") == [] and rec.msgs("good") == ["after", "second"]
    bad = [e for e in rec.events if e.host == "bad"]
    assert bad[0].status == "unreachable" and "nonexistent" in bad[0].result["msg"]


def test_no_log_hides_results_and_items(tmp_path):
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          tasks:
            - debug: msg="secret {{ item }}"
              loop: [a]
              no_log: true
            - fail: msg=secret
              no_log: true
              ignore_errors: true
    """,
    )
    shown = repr([e.result for e in rec.events + rec.items])
    assert "secret" not in shown
    assert "the output has been hidden" in shown


def test_vars_prompt_without_terminal_takes_default(tmp_path):
    code, stats, rec = play(
        tmp_path,
        """
        - hosts: localhost
          gather_facts: false
          vars_prompt:
            - name: answer
              prompt: What?
              default: fourty-two
          tasks:
            - debug: msg="{{ answer }}"
    """,
    )
    assert rec.msgs() == ["fourty-two"]
