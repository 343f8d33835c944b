"""The one exception hierarchy of tk: user errors carry a location and print without traceback.

Exit codes follow ansible-playbook: 1 generic error, 2 a host failed, 4 a host unreachable,
5 bad options or a playbook/inventory that cannot be parsed, 250 an unexpected internal error.
"""

from __future__ import annotations

# typing only for the checker: importing it costs ~4 ms of every tk/tke start-up
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, Optional, Tuple


class Location:
    """A place in a user's file; line and column are 1-based (0 when unknown).

    A plain class rather than a dataclass: this module is imported by every `tk` and `tke`
    start, and importing dataclasses costs more than the whole class.
    """

    __slots__ = ("path", "line", "col")

    def __init__(self, path: str, line: int = 0, col: int = 0) -> None:
        self.path, self.line, self.col = path, line, col

    def _key(self) -> Tuple[str, int, int]:
        return (self.path, self.line, self.col)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Location(path={self.path!r}, line={self.line}, col={self.col})"

    def __str__(self) -> str:
        if not self.line:
            return self.path
        if not self.col:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.col}"

    def excerpt(self) -> str:
        """The offending line with a caret under the column, or '' if unreadable."""
        if not self.line:
            return ""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as fh:
                for number, text in enumerate(fh, 1):
                    if number == self.line:
                        text = text.rstrip("\n")
                        caret = " " * max(self.col - 1, 0) + "^"
                        return f"    {text}\n    {caret}"
        except OSError:
            pass
        return ""


class TkError(Exception):
    """A user-facing error: one clear message, a location when known, no traceback."""

    exit_code = 1

    def __init__(
        self, message: str, location: Optional[Location] = None, hint: Optional[str] = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def render(self) -> str:
        parts = [f"ERROR! {self.message}"]
        if self.location is not None:
            parts.append(f"  in {self.location}")
            excerpt = self.location.excerpt()
            if excerpt:
                parts.append(excerpt)
        if self.hint:
            parts.append(f"  hint: {self.hint}")
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.render()


class UsageError(TkError):
    """Bad command-line options."""

    exit_code = 5


class ParseError(TkError):
    """A playbook, vars file or YAML document that cannot be read."""

    exit_code = 5


class InventoryError(ParseError):
    """An inventory that cannot be read, or a host pattern that is malformed."""


class TemplateError(TkError):
    """A Jinja2 template that cannot be parsed or rendered (undefined variable, bad filter)."""


class ModuleNotFound(TkError):
    """A task names a module or action that does not exist."""

    exit_code = 5


class ArgumentError(TkError):
    """A module or action got arguments it does not accept."""


class HostUnreachable(TkError):
    """A host could not be reached or its agent died."""

    exit_code = 4


class AgentError(TkError):
    """The agent on a host answered with an error that is not a module failure."""


def closest(word: str, choices: Iterable[str]) -> Optional[str]:
    """The valid name closest to a misspelt one, for 'did you mean' hints."""
    import difflib

    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> Optional[str]:
    """A hint string naming the closest valid choice, or None."""
    match = closest(word, choices)
    return f"did you mean '{match}'?" if match else None
