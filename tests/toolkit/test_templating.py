"""Templar: native types, mixed text, conditionals, lazy variables, files and error messages."""

from __future__ import annotations

import threading

import pytest

from toolkit.errors import Location, TemplateError
from toolkit.templating import OMIT, HostVars, LazyVars, Templar, is_template, strip_omit
from toolkit.yamlfile import loads

VARS = {
    "x": [1, 2],
    "n": 3,
    "s": "[1, 2]",
    "word": "hello",
    "t": "True",
    "none": None,
    "d": {"a": {"b": 1}, "k": "v"},
    "flag": False,
    "yes_str": "yes",
    "result": {"changed": True, "failed": False, "rc": 0, "stdout": "ok"},
}

NATIVE = [
    # a single expression keeps the expression's type
    ("{{ x }}", [1, 2]),
    ("{{ n }}", 3),
    ("{{ n + 1 }}", 4),
    ("{{ 1 }}", 1),
    ("{{ 1.5 }}", 1.5),
    ("{{ flag }}", False),
    ("{{ d }}", {"a": {"b": 1}, "k": "v"}),
    ("{{ d.a }}", {"b": 1}),
    ("{{ d['a']['b'] }}", 1),
    ("{{ none }}", None),
    ("{{ x | length }}", 2),
    ("{{ '5' | int }}", 5),
    ("{{ n > 2 }}", True),
    ("{{ x + [3] }}", [1, 2, 3]),
    ("{{ {'k': n} }}", {"k": 3}),
    ("{% if n %}{{ x }}{% endif %}", [1, 2]),
    ("{{ x }}{# comment #}", [1, 2]),
    # a single expression's str result that reads as a list/dict/bool literal is evaluated
    ("{{ s }}", [1, 2]),
    ("{{ '[3]' }}", [3]),
    ("{{ \"{'a': 1}\" }}", {"a": 1}),
    ("{{ t }}", True),
    ("{{ '[not python' }}", "[not python"),
    ("{{ '{1, 2}' }}", "{1, 2}"),  # a set literal is not turned into a set
    # ...but never when a filter says its output is text
    ("{{ x | to_json }}", "[1, 2]"),
    ("{{ x | string }}", "[1, 2]"),
    ("{{ d | to_nice_json }}", '{\n    "a": {\n        "b": 1\n    },\n    "k": "v"\n}'),
    ("{{ x | to_yaml }}", "[1, 2]\n"),
    # mixed text is always a str and never re-evaluated
    ("a {{ x }}", "a [1, 2]"),
    ("[{{ n }}, 2]", "[3, 2]"),
    ("{{ x }} ", "[1, 2] "),
    ("{{ n }}{{ n }}", "33"),
    ("x{{ none }}y", "xy"),
    ("{{ flag }}!", "False!"),
    ("{{ word }}\n", "hello\n"),
    ("{% for i in x %}{{ i }},{% endfor %}", "1,2,"),
    ("{% if false %}x{% endif %}", ""),
    ("{% set y = n * 2 %}{{ y }}", 6),
    # not templates at all: returned as they are
    ("plain text", "plain text"),
    ("a { b } c", "a { b } c"),
    ("{ not: jinja }", "{ not: jinja }"),
    ("", ""),
]


@pytest.mark.parametrize("expr, expected", NATIVE)
def test_render_native_rules(expr, expected):
    result = Templar(VARS).render(expr)
    assert result == expected
    assert type(result) is type(expected)


def test_render_recurses_into_lists_and_dict_keys():
    value = {"{{ word }}": ["{{ n }}", {"k": "{{ x }}"}, 7], "plain": "{{ word }}-{{ n }}"}
    assert Templar(VARS).render(value) == {
        "hello": [3, {"k": [1, 2]}, 7],
        "plain": "hello-3",
    }


def test_render_string_always_gives_text():
    t = Templar(VARS)
    assert t.render_string("{{ x }}") == "[1, 2]"
    assert t.render_string("{{ n }}") == "3"
    assert t.render_string("plain") == "plain"


def test_plain_strings_are_returned_as_the_same_object():
    text = "no templates here " * 10
    assert Templar(VARS).render(text) is text


def test_is_template():
    assert is_template("{{ x }}") and is_template("{% if %}") and is_template("{# c #}")
    assert not is_template("{ x }") and not is_template(3) and not is_template("")


def test_compiled_templates_are_cached():
    from toolkit import jinja_env

    Templar(VARS).render("{{ n * 7 }}")
    cached = jinja_env._CACHE["{{ n * 7 }}"]
    Templar({"n": 2}).render("{{ n * 7 }}")
    assert jinja_env._CACHE["{{ n * 7 }}"] is cached
    assert Templar({"n": 2}).render("{{ n * 7 }}") == 14


CONDITIONS = [
    ("n == 3", True),
    ("n == 4", False),
    ("x | length > 1", True),
    ("nope is defined", False),
    ("nope is undefined", True),
    ("nope.a.b is defined", False),
    ("d.zz is defined", False),
    ("d.a.b == 1", True),
    ("result is changed", True),
    ("result is succeeded", True),
    ("result is success", True),
    ("result is failed", False),
    ("result is skipped", False),
    ("result.rc == 0 and 'ok' in result.stdout", True),
    ("flag", False),
    ("not flag", True),
    ("yes_str", True),
    ("yes_str | bool", True),
    ("yes", True),
    ("no", False),
    ("True", True),
    ("false", False),
    ("", True),
    (True, True),
    (False, False),
    (None, True),
    (1, True),
    (0, False),
    (["n == 3", "word == 'hello'"], True),
    (["n == 3", "word == 'bye'"], False),
    ([], True),
    ("{{ n }} == 3", True),
    ("{{ flag }}", False),
    ("{{ n == 3 }}", True),
    ("word is match('hel')", True),
    ("word is search('ll')", True),
    ("word is regex('^h.*o$')", True),
    ("'1.10' is version('1.9', '>')", True),
    ("x is contains(2)", True),
    ("[1] is subset(x)", True),
    ("none is none", True),
    ("none", False),
    ("s", True),
]


@pytest.mark.parametrize("expr, expected", CONDITIONS)
def test_is_true(expr, expected):
    assert Templar(VARS).is_true(expr) is expected


def test_is_true_yes_word_is_a_variable_when_defined():
    assert Templar({"yes": False}).is_true("yes") is False


ERRORS = [
    ("{{ nope }}", "'nope' is undefined"),
    ("{{ nope.a.b }}", "'nope' is undefined"),
    ("{{ d.a.c }}", "'d.a.c' is undefined: 'dict object' has no attribute 'c'"),
    ("{{ d.q.c }}", "'d.q' is undefined: 'dict object' has no attribute 'q'"),
    ("{{ d['q'] }}", "'d.q' is undefined"),
    ("{{ x[5] }}", "has no element 5"),
    ("a {{ nope }} b", "'nope' is undefined"),
    ("{{ nope + 1 }}", "'nope' is undefined"),
    ("{% for i in nope %}{% endfor %}", "'nope' is undefined"),
    ("{{ x | upperr }}", "no filter named 'upperr'"),
    ("{% if n %}{{ x | bogus }}{% endif %}", "no filter named 'bogus'"),
    ("{{ x is bogus }}", "no test named 'bogus'"),
    ("{{ x ", "template syntax error: unexpected end of template"),
    ("{{ x }", "template syntax error"),
    ("{% if %}", "template syntax error"),
    ("{{ nope | mandatory }}", "Mandatory variable 'nope' not defined."),
    ("{{ nope | mandatory('give it') }}", "give it"),
    ("{{ n | dict2items }}", "dict2items requires a dictionary"),
    ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
    ("{{ [1, nope] }}", "'nope' is undefined"),
    ("{{ {'k': [nope]} }}", "'nope' is undefined"),
    ("{{ [d] | map(attribute='zz') | list }}", "has no attribute 'zz'"),
    ("{{ lookup('nosuch', 'x') }}", "lookup plugin 'nosuch' not found"),
]


@pytest.mark.parametrize("expr, message", ERRORS)
def test_render_errors_are_template_errors(expr, message):
    with pytest.raises(TemplateError) as info:
        Templar(VARS).render(expr)
    assert message in info.value.message
    assert "Traceback" not in info.value.render()


def test_error_shows_the_offending_string_and_the_callers_location():
    where = Location("site.yml", 12, 7)
    with pytest.raises(TemplateError) as info:
        Templar(VARS, location=where).render("{{ x ")
    assert info.value.location == where
    assert "String: {{ x " in info.value.message
    assert "site.yml:12:7" in info.value.render()


def test_error_uses_the_yaml_location_of_the_string():
    doc = loads("msg: '{{ nope }}'\n", "play.yml")
    with pytest.raises(TemplateError) as info:
        Templar(VARS, location=Location("other.yml", 1)).render(doc)
    assert info.value.location == Location("play.yml", 1, 6)


def test_unknown_filter_has_did_you_mean_hint():
    with pytest.raises(TemplateError) as info:
        Templar(VARS).render("{{ d | dict2itemz }}")
    assert info.value.hint == "did you mean 'dict2items'?"


def test_conditional_error_names_the_condition():
    with pytest.raises(TemplateError) as info:
        Templar(VARS).is_true("zz == 1", location=Location("t.yml", 3))
    assert info.value.message == "error while evaluating conditional (zz == 1): 'zz' is undefined"
    assert info.value.location == Location("t.yml", 3)


def test_default_filter_and_undefined_chains():
    t = Templar(VARS)
    assert t.render("{{ nope | default('d') }}") == "d"
    assert t.render("{{ nope.a.b | default(5) }}") == 5
    assert t.render("{{ d.zz | d([]) }}") == []
    assert t.render("{{ '' | default('e', true) }}") == "e"
    assert t.render("{{ none | default('e', true) }}") == "e"
    assert t.render("{{ none | default('e') }}") is None


# -- lazy variables ----------------------------------------------------------------------------


def test_lazy_vars_render_on_read_with_layer_precedence():
    lv = LazyVars({"a": "{{ b }}", "b": 1, "c": "low"}, {"c": "high-{{ b }}"})
    assert lv["a"] == 1
    assert lv["c"] == "high-1"
    assert Templar(lv).render("{{ a + 1 }}") == 2
    assert sorted(lv) == ["a", "b", "c"] and len(lv) == 3
    assert lv.raw("a") == "{{ b }}"


def test_lazy_vars_nested_values_and_chains():
    lv = LazyVars(
        {"base": "/srv", "app": {"dir": "{{ base }}/app", "files": ["{{ base }}/x"]}},
        {"deep": "{{ app.dir }}/bin", "n": "{{ 2 }}", "l": "{{ [n, n] }}"},
    )
    assert lv["app"] == {"dir": "/srv/app", "files": ["/srv/x"]}
    assert lv["deep"] == "/srv/app/bin"
    assert lv["l"] == [2, 2]


@pytest.mark.parametrize(
    "layer, key",
    [
        ({"a": "{{ a }}"}, "a"),
        ({"a": "{{ b }}", "b": "{{ a }}"}, "a"),
        ({"a": "x-{{ a | default(1) }}"}, "a"),
        ({"a": ["{{ a }}"]}, "a"),
    ],
)
def test_lazy_vars_recursion_is_detected(layer, key):
    lv = LazyVars(layer)
    with pytest.raises(TemplateError, match="recursive loop detected in template for "):
        Templar(lv).render("{{ " + key + " }}")


def test_lazy_vars_undefined_inner_variable_names_it_and_the_outer_one():
    lv = LazyVars({"a": "{{ b }}", "b": "x{{ c }}"})
    with pytest.raises(TemplateError) as info:
        lv["a"]
    assert "'c' is undefined (in the value of 'b')" in info.value.message


def test_lazy_vars_see_loop_variables_through_copy_with():
    lv = LazyVars({"path": "/tmp/{{ item }}"})
    t = Templar(lv)
    assert [t.copy_with({"item": i}).render("{{ path }}") for i in ("a", "b")] == [
        "/tmp/a",
        "/tmp/b",
    ]
    with pytest.raises(TemplateError, match="'item' is undefined"):
        t.render("{{ path }}")


def test_lazy_vars_are_not_forced_by_unrelated_access():
    lv = LazyVars({"bad": "{{ nope }}", "good": "{{ 1 }}"})
    t = Templar(lv)
    assert t.render("{{ good }}") == 1
    assert t.render("{% set z = 1 %}{{ good + z }}") == 2
    # a variable whose value is undefined is itself undefined, as in Ansible
    assert t.is_true("bad is undefined")
    assert t.render("{{ bad | default('fallback') }}") == "fallback"
    with pytest.raises(TemplateError, match="'nope' is undefined"):
        t.render("{{ bad }}")


def test_lazy_vars_recursion_detection_is_per_thread():
    lv = LazyVars({"a": "{{ b }}", "b": "{{ c }}", "c": 5})
    errors = []

    def worker():
        try:
            for _ in range(300):
                assert lv["a"] == 5
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []


def test_hostvars_is_lazy_and_templated_per_host():
    calls = []

    def host_vars(name):
        calls.append(name)
        return LazyVars({"ip": "10.0.0.{{ idx }}", "idx": {"web1": 1, "web2": 2}[name]})

    hv = HostVars(host_vars, ["web1", "web2"])
    t = Templar(LazyVars({"hostvars": hv, "inventory_hostname": "web1"}))
    assert calls == []
    assert t.render("{{ hostvars['web2'].ip }}") == "10.0.0.2"
    assert t.render("{{ hostvars.web2['ip'] }}") == "10.0.0.2"
    assert calls == ["web2"]
    assert "web1" in hv and "db" not in hv and list(hv) == ["web1", "web2"]
    with pytest.raises(TemplateError, match="undefined"):
        t.render("{{ hostvars['db'].ip }}")
    assert t.render("{{ hostvars | length }}") == 2


def test_available_variables_can_be_swapped():
    t = Templar({"item": 1})
    assert t.render("{{ item }}") == 1
    t.available_variables = {"item": 2}
    assert t.render("{{ item }}") == 2
    assert t.copy_with({"item": 3}).render("{{ item }}") == 3
    assert t.render("{{ item }}") == 2


# -- omit ----------------------------------------------------------------------------------------


def test_omit_renders_to_the_sentinel_and_strip_omit_drops_it():
    t = Templar(VARS)
    args = t.render(
        {"mode": "{{ nope | default(omit) }}", "owner": "root", "opts": ["a", "{{ omit }}"]}
    )
    assert args["mode"] == OMIT
    assert strip_omit(args) == {"owner": "root", "opts": ["a"]}
    assert strip_omit({"nested": {"k": OMIT, "j": 1}}) == {"nested": {"j": 1}}


# -- files ---------------------------------------------------------------------------------------


def test_render_file_trim_blocks_include_import_and_ansible_managed(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "macros.j2").write_text("{% macro greet(n) %}hi {{ n }}{% endmacro %}")
    (tmp_path / "sub" / "part.j2").write_text("part {{ word }}\n")
    (tmp_path / "main.j2").write_text(
        "# {{ ansible_managed }}\n"
        "{% import 'macros.j2' as m %}\n"
        "{% for i in x %}\n"
        "line {{ i }}\n"
        "{% endfor %}\n"
        "{% include 'sub/part.j2' %}"
        "{{ m.greet(word) }}\n"
    )
    out = Templar(VARS).render_file(str(tmp_path / "main.j2"))
    assert out == "# Ansible managed\nline 1\nline 2\npart hello\nhi hello\n"


def test_render_file_include_with_locals_and_lazy_vars(tmp_path):
    (tmp_path / "row.j2").write_text("{{ prefix }}{{ i }}\n")
    (tmp_path / "t.j2").write_text("{% for i in x %}{% include 'row.j2' %}{% endfor %}")
    lv = LazyVars({"x": [1, 2], "prefix": "n={{ word }}:", "word": "w", "bad": "{{ nope }}"})
    assert Templar(lv).render_file(str(tmp_path / "t.j2")) == "n=w:1\nn=w:2\n"


def test_render_file_user_ansible_managed_and_template_vars(tmp_path):
    path = tmp_path / "t.j2"
    path.write_text("{{ ansible_managed }} {{ template_path | basename }} {{ dest }}")
    out = Templar({"ansible_managed": "by tk"}).render_file(str(path), {"dest": "/etc/x"})
    assert out == "by tk t.j2 /etc/x"


def test_render_file_jinja2_header_overrides(tmp_path):
    path = tmp_path / "t.j2"
    path.write_text(
        "#jinja2: trim_blocks: False, variable_start_string: '[%'\n"
        "{% if 1 %}\n[% n }}\n{% endif %}\n"
    )
    assert Templar(VARS).render_file(str(path)) == "\n3\n\n"


def test_render_file_errors_name_the_template_line(tmp_path):
    path = tmp_path / "bad.j2"
    path.write_text("ok\n{{ word }}\n{{ nope }}\n")
    with pytest.raises(TemplateError) as info:
        Templar(VARS).render_file(str(path))
    assert info.value.location == Location(str(path), 3)
    assert "'nope' is undefined" in info.value.message

    path.write_text("ok\n\n{% if %}\n")
    with pytest.raises(TemplateError) as info:
        Templar(VARS).render_file(str(path))
    assert info.value.location == Location(str(path), 3)
    assert "template syntax error" in info.value.message

    with pytest.raises(TemplateError, match="template file not found"):
        Templar(VARS).render_file(str(tmp_path / "missing.j2"))

    path.write_text("{% include 'nothere.j2' %}")
    with pytest.raises(TemplateError, match="template not found: .*nothere.j2"):
        Templar(VARS).render_file(str(path))


def test_render_file_sees_file_changes(tmp_path):
    (tmp_path / "inc.j2").write_text("one")
    (tmp_path / "t.j2").write_text("{% include 'inc.j2' %}")
    t = Templar(VARS)
    assert t.render_file(str(tmp_path / "t.j2")) == "one"
    import os

    (tmp_path / "inc.j2").write_text("two")
    os.utime(tmp_path / "inc.j2", (1, 1))
    assert t.render_file(str(tmp_path / "t.j2")) == "two"


def test_lazy_mappings_prefer_items_and_materialize_as_dicts():
    lv = LazyVars({"raw": "r", "layers": "{{ raw }}-l", "bad": "{{ nope }}", "ok": 1})
    hv = HostVars(lambda name: lv, ["h1"])
    t = Templar({"hostvars": hv})
    assert t.render("{{ hostvars.h1.raw }}") == "r"
    assert t.render("{{ hostvars.h1.layers }}") == "r-l"
    assert t.is_true("hostvars.h1.bad is undefined")
    assert t.is_true("hostvars['h1']['bad'] is undefined")
    assert t.render("{{ hostvars.h1.bad | default(7) }}") == 7
    assert t.is_true("hostvars.h1.missing is undefined")
    with pytest.raises(TemplateError, match="'nope' is undefined"):
        t.render("{{ hostvars.h1.bad }}")
    good = HostVars(lambda name: LazyVars({"a": "{{ b }}", "b": 2}), ["h1"])
    assert Templar({"hostvars": good}).render("{{ hostvars }}") == {"h1": {"a": 2, "b": 2}}
    assert Templar({"hostvars": good}).render("{{ hostvars['h1'] }}") == {"a": 2, "b": 2}


def test_render_file_overrides_and_header_wins(tmp_path):
    path = tmp_path / "t.j2"
    path.write_text("  {% if 1 %}\n<<n>>\n  {% endif %}\n")
    t = Templar(VARS)
    options = {"lstrip_blocks": True, "variable_start_string": "<<", "variable_end_string": ">>"}
    assert t.render_file(str(path), overrides=options) == "3\n"
    path.write_text("#jinja2: lstrip_blocks: False\n  {% if 1 %}\n<<n>>\n  {% endif %}\n")
    assert t.render_file(str(path), overrides=options) == "  3\n  "
    with pytest.raises(TemplateError) as info:
        t.render_file(str(path), overrides={"trim_block": True})
    assert info.value.hint == "did you mean 'trim_blocks'?"
    with pytest.raises(TemplateError, match="must be a bool"):
        t.render_file(str(path), overrides={"trim_blocks": 3})


def test_templar_takes_search_paths_from_lazy_vars(tmp_path):
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "f.txt").write_text("found")
    t = Templar(LazyVars({"name": "f.txt"}, search_paths=[str(tmp_path)]))
    assert t.render("{{ lookup('file', name) }}") == "found"
    assert t.copy_with({"name": "f.txt"}).render("{{ lookup('file', name) }}") == "found"


def test_unsafe_strings_are_never_rendered():
    from toolkit.yamlfile import PosStr

    text = PosStr("{{ nope }} and {% raw %}")
    text.unsafe = True
    lv = LazyVars({"u": text, "v": "{{ u }}"})
    t = Templar(lv)
    assert t.render(text) is text
    assert t.render({"k": [text]}) == {"k": ["{{ nope }} and {% raw %}"]}
    assert t.render("{{ v }}") == "{{ nope }} and {% raw %}"
    assert not is_template(text)
