"""Throw-away local test hosts (netns + overlay root + sshd), used by the demo and the tests."""

from toolkit.lab.lab import Lab
from toolkit.lab.netns import LabError
from toolkit.lab.state import HostState, LabState

__all__ = ["Lab", "LabError", "HostState", "LabState"]
