"""Shipped data: target-side modules and playbooks (mapped from the repository's top level)."""
