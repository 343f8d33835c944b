"""`tk run` output, shaped like the `ansible` ad hoc command's minimal callback.

    host | CHANGED | rc=0 >>          (command-like modules: stdout, then stderr)
    host | SUCCESS => {json}          (other modules)
    host | FAILED! => {json} / UNREACHABLE! / SKIPPED
With one_line (-o) every result fits on one line.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any, Optional

from toolkit.output import colors
from toolkit.output.base import Callback, HostEvent

COMMANDS = {"command", "shell", "raw", "script"}
_COLOR = {"SUCCESS": colors.OK, "CHANGED": colors.CHANGED, "FAILED": colors.ERROR,
          "UNREACHABLE!": colors.UNREACHABLE, "SKIPPED": colors.SKIP}  # fmt: skip


class AdHocCallback(Callback):
    def __init__(self, one_line: bool = False, stream: Optional[IO[str]] = None) -> None:
        self.one_line = one_line
        self.out = stream or sys.stdout
        self.err = sys.stderr
        self.color = colors.wanted(self.out)

    def _print(self, text: str, state: str) -> None:
        self.out.write(colors.paint(text, _COLOR.get(state, ""), self.color) + "\n")
        self.out.flush()

    def _json(self, result: Any) -> str:
        shown = {k: v for k, v in result.items() if not k.startswith("_")}
        if shown.get("failed") is False:
            del shown["failed"]
        if self.one_line:
            return json.dumps(shown, default=str, ensure_ascii=False)
        return json.dumps(shown, indent=4, default=str, ensure_ascii=False)

    def host_result(self, event: HostEvent) -> None:
        result = event.result
        host = event.host
        if event.status == "unreachable":
            self._print(f"{host} | UNREACHABLE! => {self._json(result)}", "UNREACHABLE!")
            return
        if event.status == "skipped":
            self._print(f"{host} | SKIPPED", "SKIPPED")
            return
        failed = event.status == "failed"
        state = "FAILED" if failed else ("CHANGED" if result.get("changed") else "SUCCESS")
        if event.action in COMMANDS and "rc" in result:
            self._command(host, state, result)
            return
        label = "FAILED!" if failed else state
        self._print(f"{host} | {label} => {self._json(result)}", state)

    def _command(self, host: str, state: str, result: Any) -> None:
        stdout = str(result.get("stdout", "") or "")
        stderr = str(result.get("stderr", "") or "")
        if failed_msg := (result.get("msg") if state == "FAILED" and not stdout else ""):
            stderr = stderr or str(failed_msg)
        if self.one_line:
            text = f"{host} | {state} | rc={result['rc']} | (stdout) {stdout}".replace("\n", "\\n")
            if stderr:
                text += f" (stderr) {stderr}".replace("\n", "\\n")
            self._print(text, state)
            return
        text = f"{host} | {state} | rc={result['rc']} >>\n{stdout}"
        if stderr:
            text += f"\n{stderr}"
        self._print(text, state)

    def warning(self, text: str) -> None:
        self.err.write(colors.paint(f"[WARNING]: {text}", colors.WARN, self.color) + "\n")

    def no_hosts(self) -> None:
        self.warning("No hosts matched, nothing to do")
