"""Action detection and argument normalisation, table-driven from small task snippets."""

from __future__ import annotations

import pytest
from playbook_testlib import is_action

from toolkit.errors import ParseError
from toolkit.playbook.loader import load_playbook
from toolkit.playbook.model import play_tasks
from toolkit.playbook.names import canonical_action
from toolkit.playbook.splitargs import parse_kv


def load_task(tmp_path, task_yaml: str):
    book = tmp_path / "site.yml"
    body = "".join(f"      {line}\n" for line in task_yaml.strip("\n").splitlines())
    book.write_text("- hosts: all\n  tasks:\n    - " + body.lstrip())
    return play_tasks(load_playbook(str(book), is_action=is_action).plays[0])[0]


@pytest.mark.parametrize(
    "text, check_raw, expected",
    [
        ("src=a dest=b", False, {"src": "a", "dest": "b"}),
        ('msg="hello world" verbosity=2', False, {"msg": "hello world", "verbosity": "2"}),
        ("msg='it''s'", False, {"msg": "it''s"}),
        ('msg="say \\"hi\\""', False, {"msg": 'say "hi"'}),
        ("msg={{ a | default('x y') }}", False, {"msg": "{{ a | default('x y') }}"}),
        (
            "msg={{ a }} b={% if x %}1{% endif %}",
            False,
            {"msg": "{{ a }}", "b": "{% if x %}1{% endif %}"},
        ),
        ("ls -l /tmp", True, {"_raw_params": "ls -l /tmp"}),
        ("chdir=/srv ls  -l x=y", True, {"chdir": "/srv", "_raw_params": "ls  -l x=y"}),
        ("echo 'a  b' creates=/f", True, {"creates": "/f", "_raw_params": "echo 'a  b'"}),
        ('echo "{{ x }} y" | grep z', True, {"_raw_params": 'echo "{{ x }} y" | grep z'}),
        ("", False, {}),
    ],
)
def test_parse_kv(text, check_raw, expected):
    assert parse_kv(text, check_raw=check_raw) == expected


@pytest.mark.parametrize(
    "name, short",
    [
        ("ansible.builtin.copy", "copy"),
        ("ansible.legacy.shell", "shell"),
        ("ansible.posix.firewalld", "firewalld"),
        ("community.general.timezone", "timezone"),
        ("community.docker.docker_container", "docker_container"),
        ("community.anything.thing", "thing"),
        ("copy", "copy"),
        ("other.collection.mod", "other.collection.mod"),
    ],
)
def test_canonical_action(name, short):
    assert canonical_action(name) == short


@pytest.mark.parametrize(
    "task, action, args",
    [
        ("copy: src=a dest=b", "copy", {"src": "a", "dest": "b"}),
        (
            "copy:\n  src: a\n  dest: b\nargs: {mode: '0644', src: z}",
            "copy",
            {"mode": "0644", "src": "a", "dest": "b"},
        ),
        (
            "shell: echo hi\nargs:\n  chdir: /tmp",
            "shell",
            {"chdir": "/tmp", "_raw_params": "echo hi"},
        ),
        (
            "command:\n  cmd: ls -l\n  chdir: /srv",
            "command",
            {"_raw_params": "ls -l", "chdir": "/srv"},
        ),
        ("command:\n  argv: [ls, -l]", "command", {"argv": ["ls", "-l"]}),
        ("ansible.builtin.raw: uptime", "raw", {"_raw_params": "uptime"}),
        ("stat:", "stat", {}),
        ("action: copy src=a dest=b", "copy", {"src": "a", "dest": "b"}),
        ("action:\n  module: ansible.builtin.file\n  path: /x", "file", {"path": "/x"}),
        ("include_vars: vars/main.yml", "include_vars", {"_raw_params": "vars/main.yml"}),
        (
            "include_role: name=web tasks_from=alt",
            "include_role",
            {"name": "web", "tasks_from": "alt"},
        ),
        (
            "include_tasks:\n  file: x.yml\n  apply: {tags: [a]}",
            "include_tasks",
            {"file": "x.yml", "apply": {"tags": ["a"]}},
        ),
        ("copy: '{{ copy_args }}'", "copy", None),
        ("set_fact:\n  a: 1\n  b: [1, 2]", "set_fact", {"a": 1, "b": [1, 2]}),
        (
            "file: path=/x\nargs: '{{ more }}'",
            "file",
            {"_variable_params": "{{ more }}", "path": "/x"},
        ),
    ],
)
def test_action_and_args(tmp_path, task, action, args):
    if args is None:
        with pytest.raises(ParseError, match="only takes key=value"):
            load_task(tmp_path, task)
        return
    loaded = load_task(tmp_path, task)
    assert loaded.action == action
    assert loaded.args == args


@pytest.mark.parametrize(
    "lookup",
    [
        "items",
        "dict",
        "list",
        "fileglob",
        "sequence",
        "together",
        "nested",
        "subelements",
        "first_found",
    ],
)
def test_with_lookup_becomes_loop(tmp_path, lookup):
    task = load_task(tmp_path, f"debug: msg={{{{ item }}}}\nwith_{lookup}: '{{{{ terms }}}}'")
    assert task.loop == "{{ terms }}"
    assert task.loop_with == lookup


def test_loop_control_and_retries(tmp_path):
    task = load_task(
        tmp_path,
        "command: check\nregister: out\nuntil: out.rc == 0\nretries: '5'\ndelay: 2\n"
        "loop: '{{ hosts }}'\nloop_control:\n  loop_var: h\n  index_var: i\n"
        "  label: '{{ h.name }}'\n"
        "  pause: 1\n  extended: yes\nchanged_when: false\nfailed_when: [out.rc > 1, bad]",
    )
    assert task.loop == "{{ hosts }}" and task.loop_with is None
    control = task.loop_control
    assert (control.loop_var, control.index_var, control.label) == ("h", "i", "{{ h.name }}")
    assert control.pause == 1 and control.extended is True
    assert task.until == ["out.rc == 0"] and task.retries == 5 and task.delay == 2
    assert task.changed_when == [False]
    assert task.failed_when == ["out.rc > 1", "bad"]


def test_keyword_types(tmp_path):
    task = load_task(
        tmp_path,
        "debug: msg=x\nbecome: 'yes'\nignore_errors: '{{ lenient }}'\ntags: a, b\n"
        "no_log: true\ndelegate_to: db1\nrun_once: 1\ntimeout: 30\nenvironment:\n"
        "  - {A: '1'}\n  - {B: '2'}\nnotify: h1\nvars: [{x: 1}, {y: 2}]\ncheck_mode: no",
    )
    assert task.become is True
    assert task.ignore_errors == "{{ lenient }}"
    assert task.tags == ["a", "b"]
    assert task.no_log is True and task.run_once is True
    assert task.delegate_to == "db1" and task.timeout == 30
    assert task.environment == {"A": "1", "B": "2"}
    assert task.notify == ["h1"]
    assert task.vars == {"x": 1, "y": 2}
    assert task.check_mode is False


def test_handlers_accept_listen_but_tasks_do_not(tmp_path):
    with pytest.raises(ParseError, match="unknown keyword or module 'listen'"):
        load_task(tmp_path, "debug: msg=x\nlisten: topic")


def test_real_modindex_unknown_module_has_hint(tmp_path):
    book = tmp_path / "site.yml"
    book.write_text("- hosts: all\n  tasks:\n    - lineinfle: path=/x line=y\n")
    with pytest.raises(ParseError) as info:
        load_playbook(str(book))
    assert info.value.message == "unknown keyword or module 'lineinfle' in a task"
    assert info.value.hint == "did you mean 'lineinfile'?"
    assert str(info.value.location) == f"{book}:3:7"
