"""The packages stand in layers, and a layer imports only the ones below it: collector knows
nothing of the agent, the spool nothing of the CLI, the report nothing of the daemon. A new
package must be given its place here, which is the one place the order is written."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# lowest first: each may import itself and anything before it
LAYERS = (
    "collector",
    "agent.text",
    "agent.config",
    "agent.datamodel",
    "agent.spool",
    "agent.outputs",
    "agent.query",
    "agent.report",
    "agent.alerts",
    "agent.daemon",
    "agent.operations",
    "agent.cli",
)


def _layer_of(module: str) -> int | None:
    for i, layer in reversed(list(enumerate(LAYERS))):
        if module == layer or module.startswith(layer + "."):
            return i
    return None


def _modules() -> dict[str, Path]:
    found = {}
    for top in ("agent", "collector"):
        for path in (REPO / top).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(p for p in parts if p != "__init__")] = path
    return found


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n.removeprefix("linkwatch.") for n in names if n.startswith("linkwatch.")}


def test_every_package_has_a_layer():
    packages = {m for m in _modules() if m.count(".") >= 1 or m == "collector"}
    unplaced = sorted(m for m in packages if _layer_of(m) is None and m != "agent")
    assert unplaced == [], "give these a place in LAYERS"


def test_no_layer_imports_one_above_it():
    upward = []
    for module, path in sorted(_modules().items()):
        own = _layer_of(module)
        if own is None:
            continue
        for imported in sorted(_imports(path)):
            other = _layer_of(imported)
            if other is not None and other > own:
                upward.append(f"{module} imports {imported}")
    assert upward == []


def test_nothing_imports_the_folders_by_their_repository_names():
    """Installed, the code is linkwatch.agent and linkwatch.collector; a plain `agent` import
    would work only from a checkout."""
    plain = []
    for module, path in sorted(_modules().items()):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0
                     and node.module else [])
            plain += [f"{module}: {n}" for n in names if n.split(".")[0] in ("agent",
                                                                             "collector")]
    assert plain == []
