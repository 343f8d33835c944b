"""Controller half of `container_image`: ship the engine to a host that lacks it (container.py)."""

from toolkit.actions.container import run

__all__ = ["run"]
