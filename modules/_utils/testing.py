"""Run a module in-process for unit tests: `run_module("stat", {"path": "/etc"}) -> dict`.

The module file is loaded fresh on every call from the same `modules/` directory as this file,
and the result goes through a JSON round trip, as it would over the agent protocol.
"""

import importlib.util
import json
import os

from modules._utils.module import execute, result_json

MODULES_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    """A fresh module object for modules/NAME.py."""
    path = os.path.join(MODULES_DIR, name + ".py")
    if not os.path.isfile(path):
        raise LookupError("no module %s in %s" % (name, MODULES_DIR))
    spec = importlib.util.spec_from_file_location("modules." + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_module(name, args, check=False, diff=False):
    """Validate args, run modules/NAME.py's main and return its result dict."""
    result = execute(load(name), args, check=check, diff=diff, name=name)
    return json.loads(result_json(result))
