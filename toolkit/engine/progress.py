"""Per-layer progress for pull/push: redrawn bars on a TTY, one plain line per state otherwise."""

from __future__ import annotations

import threading
import time
from typing import TextIO

from toolkit.engine.humanize import size

_PLAIN = {
    "waiting": "Pulling fs layer",
    "exists": "Already exists",
    "complete": "Pull complete",
    "push-waiting": "Preparing",
    "push-exists": "Layer already exists",
    "push-mounted": "Mounted from {extra}",
    "push-complete": "Pushed",
}


class LayerProgress:
    def __init__(self, out: TextIO, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.lock = threading.Lock()
        self.order: list[str] = []
        self.lines: dict[str, str] = {}
        self.last_draw = 0.0
        self.drawn = 0
        self.extra = ""

    def __call__(self, event: str, short: str, done: int, total: int) -> None:
        with self.lock:
            if short not in self.lines:
                self.order.append(short)
            text = self._text(event, done, total)
            if text is None:
                return
            changed = self.lines.get(short) != text
            self.lines[short] = text
            if self.tty:
                now = time.monotonic()
                if event in ("downloading", "pushing") and now - self.last_draw < 0.1:
                    return
                self.last_draw = now
                self._draw()
            elif changed and event not in ("downloading", "pushing"):
                self.out.write(f"{short}: {text}\n")
                self.out.flush()

    def _text(self, event: str, done: int, total: int):
        if event in _PLAIN:
            return _PLAIN[event].format(extra=self.extra)
        if event in ("downloading", "pushing"):
            if not self.tty:
                return "Downloading" if event == "downloading" else "Pushing"
            width = 50
            filled = int(width * done / total) if total else width
            bar = "=" * max(filled - 1, 0) + (">" if filled < width else "=")
            verb = "Downloading" if event == "downloading" else "Pushing"
            return f"{verb} [{bar.ljust(width)}]  {size(done)}/{size(total)}"
        return None

    def _draw(self) -> None:
        if self.drawn:
            self.out.write(f"\x1b[{self.drawn}A")
        for short in self.order:
            self.out.write(f"\x1b[2K{short}: {self.lines.get(short, '')}\n")
        self.drawn = len(self.order)
        self.out.flush()

    def finish(self) -> None:
        with self.lock:
            if self.tty and self.order:
                self._draw()
