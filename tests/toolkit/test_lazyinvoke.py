"""toolkit.lazyinvoke: paramiko loads without invoke; invoke still works when used."""

import subprocess
import sys

SCRIPT = """
import sys
from toolkit import lazyinvoke
lazyinvoke.defer()
import paramiko
loaded = sorted(m for m in sys.modules if m.startswith(("invoke.", "unittest.mock", "asyncio")))
print("after paramiko:", loaded)
import paramiko.config
run = paramiko.config.invoke.run  # what `Match exec` calls
print("run:", run.__module__)
import invoke.config
print("real:", type(sys.modules["invoke"]).__name__, invoke.config.Config.__name__)
"""


def test_paramiko_imports_without_invoke_and_invoke_loads_on_use():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    ).stdout
    assert "after paramiko: []" in out
    assert "run: invoke.runners" in out or "run: invoke" in out
    assert "real: module Config" in out


def test_defer_keeps_an_already_imported_module():
    script = "import invoke, sys\nfrom toolkit import lazyinvoke\nlazyinvoke.defer()\n"
    script += "print(sys.modules['invoke'] is invoke)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.stdout.strip() == "True", out.stderr
