"""Shared fixture of the SSH transport tests: `conns`, SSHConnections closed after each test."""

from typing import Iterator

import pytest

from tests.toolkit.transport.ssh_helpers import Connections, module_dir


@pytest.fixture
def conns(tmp_path) -> Iterator[Connections]:
    made = Connections(module_dir(tmp_path))
    try:
        yield made
    finally:
        made.close_all()
