"""Run-wide settings of `tk play` (and `tk run`): what the command line asked for."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

DEFAULT_FORKS = 50


@dataclass
class Options:
    """Everything the executor needs from the command line; defaults match `tk play` alone."""

    check: bool = False
    diff: bool = False
    forks: int = DEFAULT_FORKS
    tags: List[str] = field(default_factory=list)  # empty means "all"
    skip_tags: List[str] = field(default_factory=list)
    limit: Optional[str] = None
    extra_vars: Dict[str, Any] = field(default_factory=dict)
    start_at_task: Optional[str] = None
    verbosity: int = 0
    connection: Optional[str] = None  # overrides ansible_connection when set
    remote_user: Optional[str] = None
    become: Optional[bool] = None  # None: the playbook decides
    become_user: Optional[str] = None
    become_method: Optional[str] = None
    become_password: Optional[str] = None
    conn_password: Optional[str] = None
    timeout: Optional[float] = None  # connection timeout (-T)
    force_handlers: bool = False
