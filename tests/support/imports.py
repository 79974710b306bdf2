"""The project's import graph read from the source (no import is run), for the layer tests."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(name: str) -> set[str]:
    """Every module `name` imports (at any depth of its code, function-local imports included),
    with the packages whose `__init__` an import runs, and `from package import submodule`
    resolved to the submodule."""
    path = module_file(name)
    assert path is not None, name
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import"  # the project uses absolute ones
            assert node.module is not None
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if module_file(f"{node.module}.{alias.name}") is not None
            )
    parents = {".".join(m.split(".")[:i]) for m in found for i in range(1, m.count(".") + 1)}
    return found | parents


def modules_under(package: str) -> list[str]:
    folder = ROOT.joinpath(*package.split("."))
    return [f"{package}.{p.stem}" for p in sorted(folder.glob("*.py")) if p.stem != "__init__"]


def chains_to(
    start: str,
    forbidden: Iterable[str],
    first_party: Iterable[str],
    through_not: Iterable[str] = (),
) -> list[list[str]]:
    """Import chains from `start`, through first-party modules (not those in `through_not`),
    to a module of a forbidden top-level package."""
    forbidden, first_party, skip = set(forbidden), tuple(first_party), set(through_not)
    chains: list[list[str]] = []
    seen = {start}
    todo = [[start]]
    while todo:
        chain = todo.pop()
        for imported in sorted(imports_of(chain[-1])):
            top = imported.split(".")[0]
            if top in forbidden:
                chains.append([*chain, imported])
            elif imported in skip:
                continue
            elif top in first_party and imported not in seen and module_file(imported):
                seen.add(imported)
                todo.append([*chain, imported])
    return chains
