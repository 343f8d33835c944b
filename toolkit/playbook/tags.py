"""Tag selection (`--tags` / `--skip-tags`) with Ansible's special tags.

`always` runs unless skipped explicitly, `never` runs only when asked for by name, `tagged`
and `untagged` select by whether a task has tags, `all` is every task not tagged `never`.
"""

from __future__ import annotations

from typing import Iterable, Optional

UNTAGGED = frozenset({"untagged"})


def should_run(
    tags: Iterable[str],
    only_tags: Optional[Iterable[str]] = None,
    skip_tags: Optional[Iterable[str]] = None,
) -> bool:
    """Whether an object with `tags` is selected; `only_tags` None/empty means ['all']."""
    own = frozenset(tags) or UNTAGGED
    only = frozenset(only_tags or ("all",))
    skip = frozenset(skip_tags or ())
    run = (
        "always" in own
        or ("all" in only and "never" not in own)
        or not own.isdisjoint(only)
        or ("tagged" in only and own != UNTAGGED and "never" not in own)
    )
    if run and skip:
        if "all" in skip:
            run = "always" in own and "always" not in skip
        elif not own.isdisjoint(skip):
            run = False
        elif "tagged" in skip and own != UNTAGGED:
            run = False
    return run
