"""A private D-Bus message bus for tests: a real dbus-daemon on a socket of the test's own.

    with PrivateBus(tmp_path) as bus:        # bus.address: "unix:path=..."
        bus.emit("/org/fedoraproject/FirewallD1", "org.fedoraproject.FirewallD1.Reloaded")
        bus.stop(); bus.start()              # the same address again

`auth` picks the mechanisms the daemon accepts (EXTERNAL as the system bus; another one to be
refused for real). The daemon is stopped by its PID when the test ends.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path={socket}</listen>
  <auth>{auth}</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class PrivateBus:
    def __init__(self, workdir: Path, auth: str = "EXTERNAL") -> None:
        if shutil.which("dbus-daemon") is None or shutil.which("dbus-send") is None:
            pytest.skip("needs dbus-daemon and dbus-send (Debian: dbus-daemon, dbus-bin)")
        self.socket = workdir / "bus"
        self.address = f"unix:path={self.socket}"
        self.config = workdir / "bus.conf"
        self.config.write_text(CONFIG.format(socket=self.socket, auth=auth))
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["dbus-daemon", f"--config-file={self.config}", "--nofork", "--print-address"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.proc.stdout.readline()  # printed once it listens
        assert line.startswith("unix:"), f"dbus-daemon did not start: {line!r}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc.stdout.close()
            self.proc = None

    def emit(self, path: str, name: str) -> None:
        """A signal, from a client of its own (dbus-send)."""
        subprocess.run(
            ["dbus-send", f"--bus={self.address}", "--type=signal", path, name], check=True
        )

    def __enter__(self) -> PrivateBus:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
