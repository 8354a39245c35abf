"""The package layout is the architecture: imports only go down the layers README's "Layout" names.

Read from the source with `ast`, so a new module or an upward import fails here, not in review."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

BRIDGE = Path(__file__).resolve().parent.parent / "bridge"

# Highest first: a layer may import any layer below it, never one above it or beside it.
LAYERS = [
    ("__main__",),
    ("cli",),
    ("app",),
    ("web",),
    ("services",),
    ("push",),
    ("firebase",),
    ("settings",),
    ("partners",),
    ("store",),
    ("identity",),
    ("infra",),
    ("__init__",),  # the package's face: its version
]
RANK = {name: len(LAYERS) - index for index, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    return ".".join(("bridge", *path.relative_to(BRIDGE).with_suffix("").parts))


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imported_modules(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "bridge":
                yield from (submodule_or_package(alias.name) for alias in node.names)
            elif node.module.startswith("bridge."):
                yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("bridge."))


def submodule_or_package(name: str) -> str:
    is_module = (BRIDGE / name).is_dir() or (BRIDGE / f"{name}.py").is_file()
    return f"bridge.{name}" if is_module else "bridge"


def every_module() -> list[Path]:
    return sorted(path for path in BRIDGE.rglob("*.py") if "__pycache__" not in path.parts)


def test_every_top_level_name_is_a_known_layer() -> None:
    unknown = {layer_of(module_name(path)) for path in every_module()} - set(RANK)
    assert unknown == set(), f"add these to LAYERS (and README's Layout): {sorted(unknown)}"


@pytest.mark.parametrize("path", every_module(), ids=lambda path: str(path.relative_to(BRIDGE)))
def test_imports_only_go_down(path: Path) -> None:
    source = layer_of(module_name(path))
    upward = [
        target
        for target in imported_modules(path)
        if layer_of(target) != source and RANK[layer_of(target)] >= RANK[source]
    ]
    assert upward == [], f"{source} may not import from its own rank or above: {upward}"


def test_no_module_imports_itself_through_a_cycle() -> None:
    graph = {module_name(path): set(imported_modules(path)) for path in every_module()}
    cycles = [
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if target in graph and module in reaches(graph, target)
    ]
    assert cycles == []


def reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        module = stack.pop()
        for target in graph.get(module, set()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen
