"""The human callback prints Ansible's exact shapes; the JSON callback one document."""

import io
import json

from toolkit.executor.stats import Stats
from toolkit.output.base import HostEvent
from toolkit.output.human import HumanCallback
from toolkit.output.json import JsonCallback


def _human(verbosity=0):
    out = io.StringIO()
    return HumanCallback(verbosity=verbosity, stream=out, err=out), out


def test_banners_and_recap_shape():
    cb, out = _human()
    cb.play_start("web")
    cb.task_start("common : install")
    stats = Stats()
    stats.increment("ok", "localhost")
    stats.increment("changed", "localhost")
    cb.stats(stats)
    lines = out.getvalue().splitlines()
    assert lines[1] == "PLAY [web] " + "*" * 69
    assert len(lines[1]) == 80
    assert lines[3].startswith("TASK [common : install] ****")
    assert lines[-2] == (
        "localhost                  : ok=1    changed=1    unreachable=0    failed=0    "
        "skipped=0    rescued=0    ignored=0   "
    )
    assert "\033[" not in out.getvalue()  # not a TTY: no colours


def test_result_lines():
    cb, out = _human()
    ev = HostEvent("h1", "t", "command", "changed", {"changed": True, "rc": 0})
    cb.host_result(ev)
    cb.host_result(
        HostEvent(
            "h1",
            "t",
            "fail",
            "failed",
            {"changed": False, "failed": True, "msg": "no"},
            ignored=True,
        )
    )
    cb.item_result(
        HostEvent("h1", "t", "file", "ok", {"changed": False}, item_label="a", is_item=True)
    )
    cb.host_result(
        HostEvent(
            "h1", "t", "ping", "unreachable", {"unreachable": True, "msg": "x"}, delegated_to="h2"
        )
    )
    assert out.getvalue().splitlines() == [
        "changed: [h1]",
        'fatal: [h1]: FAILED! => {"changed": false, "msg": "no"}',
        "...ignoring",
        "ok: [h1] => (item=a)",
        'fatal: [h1 -> h2]: UNREACHABLE! => {"unreachable": true, "msg": "x"}',
    ]


def test_verbose_and_diff():
    cb, out = _human(verbosity=1)
    diff = {
        "before": "a\nb\n",
        "after": "a\nc\n",
        "before_header": "f (before)",
        "after_header": "f (after)",
    }
    cb.host_result(
        HostEvent("h", "t", "copy", "changed", {"changed": True, "diff": diff}, show_diff=True)
    )
    text = out.getvalue()
    assert "--- f (before)\n+++ f (after)\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n" in text
    assert 'changed: [h] => {"changed": true}' in text


def test_json_document():
    out = io.StringIO()
    cb = JsonCallback(stream=out, err=io.StringIO())
    cb.play_start("p")
    cb.task_start("t")
    cb.host_result(HostEvent("h", "t", "ping", "ok", {"changed": False, "ping": "pong"}))
    stats = Stats()
    stats.increment("ok", "h")
    cb.stats(stats)
    doc = json.loads(out.getvalue())
    assert doc["plays"][0]["tasks"][0]["hosts"]["h"]["ping"] == "pong"
    assert doc["stats"]["h"]["ok"] == 1
