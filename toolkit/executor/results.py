"""The outcome of one task on one host, and helpers on result dicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from toolkit.executor.host_state import Include

STATUSES = ("ok", "changed", "skipped", "failed", "unreachable")


def status_of(result: Dict[str, Any]) -> str:
    """ok | changed | skipped | failed | unreachable, in that order of precedence reversed."""
    if result.get("unreachable"):
        return "unreachable"
    if result.get("failed"):
        return "failed"
    if result.get("skipped"):
        return "skipped"
    if result.get("changed"):
        return "changed"
    return "ok"


def registrable(result: Dict[str, Any]) -> Dict[str, Any]:
    """What `register:` stores: the result without the controller's internal keys."""
    clean = {k: v for k, v in result.items() if not k.startswith("_")}
    clean.setdefault("changed", False)
    clean.setdefault("failed", False)
    if "results" in clean and isinstance(clean["results"], list):
        clean["results"] = [registrable(r) if isinstance(r, dict) else r for r in clean["results"]]
    return clean


def skipped(reason: str = "Conditional result was False", condition: Any = None) -> Dict[str, Any]:
    result: Dict[str, Any] = {"changed": False, "skipped": True, "skip_reason": reason}
    if condition is not None:
        result["false_condition"] = condition
    return result


def failed(msg: str, **extra: Any) -> Dict[str, Any]:
    return {"changed": False, "failed": True, "msg": msg, **extra}


@dataclass
class Outcome:
    """One task on one host, as the strategy processes it."""

    host: str
    task: Any
    result: Dict[str, Any]
    delegated_to: Optional[str] = None
    includes: List[Include] = field(default_factory=list)
    no_log: bool = False
    show_diff: bool = False
    ignore_errors: bool = False
    facts_host: Optional[str] = None  # where ansible_facts go (delegate_facts)
    # (absolute file or role name, loop item label) per file an include brought in; the
    # strategy prints them as `included:` lines once the task ran on every host
    included: List[Tuple[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return status_of(self.result)
