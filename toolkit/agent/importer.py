"""In-memory importer for the agent: serves packages whose sources came over the wire.

The agent's own code (`toolkit.agent.*`) and the modules' runtime (`modules._utils.*`) are
installed here; nothing is written to disk. Stdlib only, Python 3.6+. This file is also the head
of the agent payload, so it must not import anything from toolkit.
"""

import sys
from importlib.machinery import ModuleSpec


class MemoryImporter(object):
    """Finds `name -> source` pairs; parent packages of known modules are empty packages.

    A meta path finder and loader by protocol (find_spec, create_module, exec_module), not by
    subclassing importlib.abc: importing importlib.abc pulls in importlib.resources, pathlib
    and tempfile, which doubled the agent's start-up."""

    def __init__(self):
        self.sources = {}
        self.packages = set()

    def add(self, package, files):
        """Register `files` ({"module.py": source, "sub/x.py": ...}) under `package`; a
        source may be a code object compiled as "<tk:DOTTED.NAME>" (see `dotted_name`)."""
        parts = package.split(".")
        for depth in range(1, len(parts) + 1):
            self.packages.add(".".join(parts[:depth]))
        for relpath, source in files.items():
            name, is_package = dotted_name(package, relpath)
            self.sources[name] = source
            if is_package:
                self.packages.add(name)
                continue
            pieces = name.split(".")
            for depth in range(len(parts) + 1, len(pieces)):
                self.packages.add(".".join(pieces[:depth]))

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.sources and fullname not in self.packages:
            return None
        return ModuleSpec(
            fullname, self, origin="<tk:%s>" % fullname, is_package=fullname in self.packages
        )

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        name = module.__name__
        if name in self.packages:
            module.__path__ = []
        source = self.sources.get(name, "")
        if not hasattr(source, "co_code"):  # sources may also come compiled (code objects)
            source = compile(source, "<tk:%s>" % name, "exec")
        exec(source, module.__dict__)


def dotted_name(package, relpath):
    """("pkg.sub.mod", False) for "sub/mod.py" in pkg; ("pkg.sub", True) for "sub/__init__.py"."""
    stem = relpath[:-3] if relpath.endswith(".py") else relpath
    dotted = stem.replace("/", ".")
    if dotted.endswith(".__init__") or dotted == "__init__":
        dotted = dotted[: -len("__init__")].rstrip(".")
        return package + ("." + dotted if dotted else ""), True
    return package + "." + dotted, False


def install():
    """The process-wide importer (first on sys.meta_path), created on first use."""
    for finder in sys.meta_path:
        if isinstance(finder, MemoryImporter) or type(finder).__name__ == "MemoryImporter":
            return finder
    finder = MemoryImporter()
    sys.meta_path.insert(0, finder)
    return finder
