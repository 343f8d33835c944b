"""Loading a valid playbook: plays, imports, roles, inheritance and handlers."""

from __future__ import annotations

import pytest
from playbook_testlib import FIXTURES, is_action

from toolkit.errors import ParseError
from toolkit.playbook.loader import load_playbook
from toolkit.playbook.model import Block, Handler, Task, flatten, play_tasks

SITE = FIXTURES / "valid" / "site.yml"


@pytest.fixture(scope="module")
def playbook():
    return load_playbook(str(SITE), is_action=is_action)


@pytest.fixture(scope="module")
def first(playbook):
    return playbook.plays[0]


def by_name(play, name) -> Task:
    matches = [t for t in play_tasks(play) if t.name == name]
    assert len(matches) == 1, [t.name for t in play_tasks(play)]
    return matches[0]


def test_plays_and_import_playbook(playbook):
    assert playbook.path == str(SITE)
    assert [p.hosts for p in playbook.plays] == ["web,db", "all"]
    other = playbook.plays[1]
    assert other.vars == {"local": 1, "from_import": 1}
    assert other.playbook_vars == {"from_import": 1}
    assert other.tags == ["other"]
    assert other.gather_facts is False
    assert other.basedir == str(FIXTURES / "valid" / "sub")
    assert [t.tags for t in play_tasks(other)] == [["other"]] * 3


def test_play_keywords(first):
    assert first.name == "Configure web"
    assert first.become is True
    assert first.serial == [1, "50%"]
    assert first.vars == {"greeting": "hello"}
    assert first.location.line == 2 and first.location.col == 3


def test_roles_flattened_with_dependencies_and_dedup(first):
    # web depends on common; `once` twice runs once; `dup` allows duplicates.
    assert [r.name for r in first.roles] == ["common", "web", "once", "dup", "dup"]
    common, web = first.roles[0], first.roles[1]
    assert common.params == {"common_level": 2}
    assert common.defaults == {"common_level": 1}
    assert web.params == {"http_port": 8080}
    assert web.defaults == {"http_port": 80, "web_user": "www"}
    assert web.vars == {"web_a": 1, "web_b": 2, "web_shared": "b"}  # vars/main/ dir, sorted
    assert web.path == str(FIXTURES / "valid" / "roles" / "web")
    assert web.templates_dir.endswith("roles/web/templates")
    assert [d.name for d in web.dependencies] == ["common"]


def test_role_tags_and_when_reach_role_and_dependency_tasks(first):
    for name in ("common role task", "install", "configure"):
        task = by_name(first, name)
        assert task.tags == ["play1", "webtag"]
        assert task.when == ["web_enabled | default(true)"]
    assert by_name(first, "once task").when == []
    assert by_name(first, "install").role.name == "web"
    assert by_name(first, "install").display_name == "web : install"
    assert by_name(first, "configure").basedir.endswith("roles/web/tasks")


def test_task_order_follows_sections(first):
    names = [t.name for t in play_tasks(first)]
    assert names[:7] == [
        "pre",
        "common role task",
        "install",
        "configure",
        "once task",
        "dup task",
        "dup task",
    ]
    assert names[-1] == "post"


def test_free_form_command_keeps_raw_params(first):
    task = by_name(first, "list files")
    assert task.action == "command"
    assert task.args == {"chdir": "/tmp", "_raw_params": 'ls -l "a b"'}
    assert task.register == "listing"
    assert task.notify == ["restart web"]
    assert task.when == ["greeting == 'hello'"]
    assert (task.location.line, task.location.col) == (22, 7)


def test_block_keywords_are_inherited(first):
    block = [i for i in first.tasks if isinstance(i, Block)][0]
    assert block.name == "guarded"
    looped = by_name(first, "looped")
    assert looped.parents == [block]
    assert looped.become is False  # own value wins
    assert looped.become_user == "admin"  # from the block
    assert looped.when == ["x is defined"]
    assert looped.tags == ["play1", "b1"]
    assert looped.vars == {"from_block": 1}
    assert looped.loop == [1, 2] and looped.loop_with == "items"
    assert looped.args == {"msg": "{{ item }} and more"}
    assert by_name(first, "pinned").become_user == "postgres"
    assert by_name(first, "pinned").become is True  # from the play
    assert [t.name for t in block.rescue] == ["recover"]
    assert [t.name for t in block.always] == ["finally"]


def test_import_tasks_applies_its_keywords_to_every_task(first):
    one, two = by_name(first, "common one"), by_name(first, "common two")
    for task in (one, two):
        assert task.when == ["do_import"]
        assert task.tags == ["play1", "imp"]
        assert task.vars == {"imported": True}
        assert task.location.path == str(FIXTURES / "valid" / "tasks" / "common.yml")
    assert two.action == "shell"
    assert two.args == {"_raw_params": "echo two | tr a-z A-Z"}


def test_include_tasks_stays_a_task(first):
    include = [t for t in play_tasks(first) if t.action == "include_tasks"]
    assert len(include) == 1
    assert include[0].args == {"file": "tasks/common.yml"}
    assert include[0].tags == ["play1", "inc"]


def test_local_action_and_old_style_action(first):
    local = [t for t in play_tasks(first) if t.action == "command" and t.name is None][0]
    assert local.delegate_to == "localhost"
    assert local.args == {"_raw_params": "echo hi"}
    old = [t for t in play_tasks(first) if t.args == {"msg": "old-style"}][0]
    assert old.action == "debug"
    meta = [t for t in play_tasks(first) if t.action == "meta"][0]
    assert meta.args == {"_raw_params": "flush_handlers"}


def test_handlers_from_roles_and_play(first):
    handlers = first.all_handlers()
    assert all(isinstance(h, Handler) for h in handlers)
    assert [h.name for h in handlers] == ["reload web", "restart web"]
    assert handlers[0].topics() == ["reload web", "web : reload web"]
    assert handlers[0].role.name == "web"
    assert handlers[0].become is True  # play keyword inherited
    assert handlers[1].listen == ["web restarts"]
    assert handlers[1].args == {"_raw_params": "systemctl restart web"}


def test_flatten_walks_blocks(first):
    assert [t.name for t in flatten(first.tasks)][:5] == [
        "list files",
        "looped",
        "pinned",
        "recover",
        "finally",
    ]


def test_roles_path_env(tmp_path, monkeypatch):
    shared = tmp_path / "shared_roles" / "shared" / "tasks"
    shared.mkdir(parents=True)
    (shared / "main.yml").write_text("- name: from shared\n  debug: msg=x\n")
    book = tmp_path / "pb" / "site.yml"
    book.parent.mkdir()
    book.write_text("- hosts: all\n  roles: [shared]\n")
    monkeypatch.setenv("TK_ROLES_PATH", str(tmp_path / "nowhere") + ":" + str(shared.parents[1]))
    pb = load_playbook(str(book), is_action=is_action)
    assert [t.display_name for t in play_tasks(pb.plays[0])] == ["shared : from shared"]


def test_import_role_is_static_with_tasks_from(tmp_path):
    role = tmp_path / "roles" / "r" / "tasks"
    role.mkdir(parents=True)
    (role / "main.yml").write_text("- name: main\n  debug: msg=main\n")
    (role / "other.yaml").write_text("- name: other\n  debug: msg=other\n")
    handlers = tmp_path / "roles" / "r" / "handlers"
    handlers.mkdir()
    (handlers / "main.yml").write_text("- name: h\n  debug: msg=h\n")
    book = tmp_path / "site.yml"
    book.write_text(
        "- hosts: all\n  tasks:\n"
        "    - import_role: {name: r, tasks_from: other}\n"
        "      when: go\n      tags: [t]\n"
    )
    play = load_playbook(str(book), is_action=is_action).plays[0]
    tasks = play_tasks(play)
    assert [t.display_name for t in tasks] == ["r : other"]
    assert tasks[0].when == ["go"] and tasks[0].tags == ["t"]
    assert [h.name for h in play.all_handlers()] == ["h"]


def test_default_action_check_uses_shipped_modules(tmp_path):
    """Without `is_action`, controller actions and modules/*.py (here: copy) are known."""
    book = tmp_path / "site.yml"
    book.write_text(
        "- hosts: all\n  tasks:\n"
        "    - ansible.builtin.copy: {content: x, dest: /tmp/x}\n"
        "    - debug: msg=hi\n"
    )
    tasks = play_tasks(load_playbook(str(book)).plays[0])
    assert [t.action for t in tasks] == ["copy", "debug"]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_role_dependency_loop_is_an_error(tmp_path):
    write(tmp_path / "roles" / "a" / "meta" / "main.yml", "dependencies: [b]\n")
    write(tmp_path / "roles" / "b" / "meta" / "main.yml", "dependencies: [a]\n")
    book = write(tmp_path / "site.yml", "- hosts: all\n  roles: [a]\n")
    with pytest.raises(ParseError) as info:
        load_playbook(str(book), is_action=is_action)
    assert "import loop: site.yml -> roles/a/meta/main.yml -> roles/b/meta/main.yml" in str(
        info.value.message
    )
    assert str(info.value.location) == f"{tmp_path}/roles/b/meta/main.yml:1:16"


def test_import_playbook_when_and_nested_imports(tmp_path):
    write(tmp_path / "inner" / "leaf.yml", "- hosts: leaf\n  tasks:\n    - debug: msg=leaf\n")
    write(
        tmp_path / "inner" / "mid.yml",
        "- import_playbook: leaf.yml\n  when: inner_ok\n  tags: [mid]\n",
    )
    book = write(
        tmp_path / "site.yml",
        "- import_playbook: inner/mid.yml\n  when: outer_ok\n  vars: {v: 1}\n",
    )
    play = load_playbook(str(book), is_action=is_action).plays[0]
    assert play.hosts == "leaf" and play.vars == {"v": 1}
    assert play.when == ["outer_ok", "inner_ok"]
    task = play_tasks(play)[0]
    assert task.when == ["outer_ok", "inner_ok"]
    assert task.tags == ["mid"]


def test_role_entry_keywords_and_bad_keyword(tmp_path):
    write(tmp_path / "roles" / "r" / "tasks" / "main.yml", "- debug: msg=r\n")
    book = write(
        tmp_path / "site.yml",
        "- hosts: all\n  roles:\n    - role: r\n      become: true\n      become_user: app\n"
        "      vars: {a: 1}\n      b: 2\n",
    )
    play = load_playbook(str(book), is_action=is_action).plays[0]
    assert play.roles[0].params == {"a": 1, "b": 2}
    task = play_tasks(play)[0]
    assert (task.become, task.become_user, task.vars) == (True, "app", {})
    write(book, "- hosts: all\n  roles:\n    - role: r\n      become: perhaps\n")
    with pytest.raises(ParseError, match="'become' must be a boolean") as info:
        load_playbook(str(book), is_action=is_action)
    assert str(info.value.location) == f"{book}:4:15"
