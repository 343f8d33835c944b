"""runner.top_level_imports: the names the agent pre-imports for a module (no ast on the host)."""

import ast
import glob
import os

from toolkit.agent.runner import top_level_imports

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def _with_ast(source):
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [node.module] + [
                f"{node.module}.{a.name}" for a in node.names if a.name != "*"
            ]
    return names


def test_same_names_as_ast_for_every_target_module():
    files = glob.glob(os.path.join(REPO, "modules", "**", "*.py"), recursive=True)
    assert len(files) > 20
    for path in files:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
        assert top_level_imports(source) == _with_ast(source), path


def test_edge_cases():
    source = (
        '"""Doc."""\n'
        "from x import (a,  # comment\n    b as bb,\n)\n"
        "import p.q as r, s\n"
        "try:\n    import t\nexcept ImportError:\n    pass\n"
        "from . import u\nfrom .v import w\nfrom y import *\n"
    )
    assert top_level_imports(source) == ["x", "x.a", "x.b", "p.q", "s", "y"]
    assert top_level_imports(source) == _with_ast(source)
