"""toolkit.yamlfile: positions on loaded values and where syntax errors are reported."""

import pytest

from toolkit.errors import ParseError
from toolkit.yamlfile import load_file, loads


def error_of(text):
    with pytest.raises(ParseError) as caught:
        loads(text, "site.yml")
    return caught.value


def test_values_carry_their_location():
    data = loads("a:\n  - b: 'x'\n", "f.yml")
    assert (data.location.line, data.location.col) == (1, 1)
    item = data["a"][0]
    assert (item["b"].location.line, item["b"].location.col) == (2, 8)


def test_unclosed_quote_points_at_the_opening_quote(tmp_path):
    path = tmp_path / "site.yml"
    path.write_text('- hosts: all\n  tasks:\n    - debug:\n        msg: "unclosed\n    - ping:\n\n')
    with pytest.raises(ParseError) as caught:
        load_file(path)
    error = caught.value
    assert (error.location.line, error.location.col) == (4, 14)
    assert "end of stream" in error.message and "quoted scalar" in error.message
    assert error.hint == "a closing quote is missing"
    rendered = error.render()
    assert "site.yml:4:14" in rendered and 'msg: "unclosed' in rendered


def test_unclosed_single_quote_at_end_without_newline():
    error = error_of("a: 'x\nb: 2")
    assert (error.location.line, error.location.col) == (1, 4)


def test_unclosed_flow_mapping_points_at_the_brace():
    error = error_of("a: 1\nb: {x: 1\n")
    assert (error.location.line, error.location.col) == (2, 4)
    assert "flow mapping" in error.message
    assert "closing bracket or brace" in error.hint


@pytest.mark.parametrize(
    "text,line,col",
    [
        ("- debug:\n    msg: a\n   bad: indent\n", 3, 4),  # the problem line, not the context
        ("a: *nope\n", 1, 4),
        ("a: b\nc\nd: e\n", 3, 1),
    ],
)
def test_errors_before_the_end_keep_the_problem_mark(text, line, col):
    error = error_of(text)
    assert (error.location.line, error.location.col) == (line, col)
    assert error.message.startswith("YAML syntax error: ")
    assert "starts here" not in error.message


def test_duplicate_key_is_an_error():
    error = error_of("a: 1\na: 2\n")
    assert error.message == "duplicate key 'a'" and error.location.line == 2
