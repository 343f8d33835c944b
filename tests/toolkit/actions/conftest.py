"""Shared setup of the action tests: one real LocalConnection (agent subprocess) per module,
and `context(...)`, the ActionContext a task would get, finding role-style files under a dir."""

import os
from typing import Any, Dict, Iterator, Optional

import pytest

from toolkit.actions.base import ActionContext
from toolkit.transport.local import LocalConnection


@pytest.fixture(scope="module")
def conn() -> Iterator[LocalConnection]:
    connection = LocalConnection("localhost")
    connection.open()
    yield connection
    connection.close()


def context(
    action: str,
    args: Dict[str, Any],
    conn: LocalConnection,
    base: Any,
    host: str = "localhost",
    variables: Optional[Dict[str, Any]] = None,
    templar: Any = None,
    check: bool = False,
    diff: bool = False,
) -> ActionContext:
    """An ActionContext whose find_file looks in `base/<kind>/` for relative names."""

    def find_file(kind: str, name: str) -> str:
        return name if os.path.isabs(name) else str(base / kind / name)

    return ActionContext(
        action=action,
        args=args,
        host=host,
        variables=variables or {},
        templar=templar,
        connection=conn,
        check=check,
        diff=diff,
        find_file=find_file,
    )
