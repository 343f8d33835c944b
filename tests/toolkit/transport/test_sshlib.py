"""paramiko imported lean (toolkit/transport/sshlib.py): same paramiko, `Match exec` still works.

Each check runs in a fresh interpreter: this test process may have imported paramiko already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def run_fresh(code: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout)


def test_paramiko_without_invoke_or_metadata_up_front():
    seen = run_fresh("""
        import json, sys
        from toolkit.transport.sshlib import paramiko
        early = {n: n in sys.modules for n in ("invoke", "importlib.metadata")}
        from importlib import metadata
        print(json.dumps({"early": early, "version": paramiko.__version__,
                          "real": metadata.version("paramiko"),
                          "transport": hasattr(paramiko, "Transport")}))
    """)
    assert seen["early"] == {"invoke": False, "importlib.metadata": False}
    assert seen["version"] == seen["real"]
    assert seen["transport"]


def test_match_exec_in_ssh_config_still_runs_its_command(tmp_path):
    config = tmp_path / "config"
    config.write_text(
        'Match exec "test -e %d/yes"\n  HostName matched.example\n'.replace("%d", str(tmp_path))
        + "Host *\n  User someone\n"
    )
    code = f"""
        import json, sys
        from toolkit.transport.sshlib import paramiko
        conf = paramiko.SSHConfig.from_path({str(config)!r})
        before = conf.lookup("web")["hostname"]
        open({str(tmp_path / "yes")!r}, "w").close()
        after = conf.lookup("web")["hostname"]
        print(json.dumps({{"before": before, "after": after, "invoke": "invoke" in sys.modules}}))
    """
    seen = run_fresh(code)
    assert seen == {"before": "web", "after": "matched.example", "invoke": True}
