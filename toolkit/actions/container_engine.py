"""Controller half of `container_engine`: ship the engine to a host that lacks it (container.py)."""

from toolkit.actions.container import async_args, run

__all__ = ["async_args", "run"]
