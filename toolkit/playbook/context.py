"""State carried while loading: where relative paths resolve, the role being loaded, imports.

A `LoadContext` is per playbook file; `child()` derives one for an imported file or a role.
`PlayState` is shared by everything loaded for one play (role de-duplication, handlers of
statically imported roles).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Callable, Dict, List, Optional, Tuple

from toolkit.errors import Location, ParseError
from toolkit.playbook.model import Role
from toolkit.playbook.names import is_known_action


@dataclass
class PlayState:
    """Per-play bookkeeping shared by every file loaded for that play."""

    applied: Dict[Tuple[str, str], Role] = field(default_factory=dict)  # (path, params) -> role
    imported_roles: List[Role] = field(default_factory=list)  # import_role targets (handlers)


@dataclass
class LoadContext:
    """Where we are while loading one file."""

    basedir: str  # directory of the file being read
    playbook_dir: str  # directory of the top playbook (roles/ beside it)
    role: Optional[Role] = None
    handlers: bool = False  # parsing a handlers list
    stack: Tuple[str, ...] = ()  # files being imported (loop detection)
    is_action: Callable[[str], bool] = is_known_action
    play: PlayState = field(default_factory=PlayState)

    def child(self, **changes) -> LoadContext:
        return replace(self, **changes)

    def enter(self, path: str, location: Optional[Location]) -> LoadContext:
        """A context for reading `path`; an import loop is a ParseError."""
        real = os.path.realpath(path)
        if real in self.stack:
            base = os.path.realpath(self.playbook_dir)
            chain = " -> ".join(os.path.relpath(p, base) for p in (*self.stack, real))
            raise ParseError(f"import loop: {chain}", location)
        if len(self.stack) > 50:
            raise ParseError("imports nested more than 50 deep", location)
        return replace(self, basedir=os.path.dirname(real), stack=(*self.stack, real))

    def resolve(self, name: str, kind: str = "tasks") -> str:
        """A relative task-file path, as Ansible searches: role's `kind/` dir, then basedir."""
        if os.path.isabs(name):
            return name
        candidates = []
        if self.role is not None:
            candidates.append(os.path.join(self.role.path, kind, name))
            candidates.append(os.path.join(self.role.path, name))
        candidates.append(os.path.join(self.basedir, name))
        candidates.append(os.path.join(self.playbook_dir, name))
        for candidate in candidates:
            if os.path.exists(candidate):
                return os.path.normpath(candidate)
        return os.path.normpath(candidates[0] if self.role is not None else candidates[-2])
