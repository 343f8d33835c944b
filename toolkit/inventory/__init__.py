"""Ansible-compatible inventories: INI/YAML files, directories, host lists, patterns, vars.

`Inventory.load(sources, playbook_dir=None)` is the entry point; see `manager.py`.
"""

from toolkit.errors import InventoryError
from toolkit.inventory.manager import Inventory
from toolkit.inventory.model import Group, Host

__all__ = ["Group", "Host", "Inventory", "InventoryError"]
