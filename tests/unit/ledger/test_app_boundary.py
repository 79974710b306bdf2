"""The ledger's app layer talks to its ports (app/ports.py), never to SQLAlchemy or a driver: no
module under ledger_service/app imports sqlalchemy or asyncpg, directly or through the project's
own modules (save the exceptions listed in ALLOWED_VIA, with the reason), and none imports an
adapter. Read from the source (no import is run), so the chain that breaks the rule is named."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
APP = ROOT / "ledger_service" / "app"
FIRST_PARTY = ("ledger_service", "billing_common")
DRIVERS = ("sqlalchemy", "asyncpg")
# Chains through these modules are tolerated, each for a reason:
ALLOWED_VIA: dict[str, str] = {}  # none: the transport bounds have a module of their own


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(name: str) -> set[str]:
    """Every module `name` imports (at any depth of its code), with the packages whose
    `__init__` an import runs, and `from package import submodule` resolved to the submodule."""
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


def driver_chains(start: str) -> list[list[str]]:
    """Import chains from `start` through first-party modules to a database driver."""
    chains: list[list[str]] = []
    seen = {start}
    todo = [[start]]
    while todo:
        chain = todo.pop()
        for imported in sorted(imports_of(chain[-1])):
            top = imported.split(".")[0]
            if top in DRIVERS:
                chains.append([*chain, imported])
            elif imported in ALLOWED_VIA:
                continue
            elif top in FIRST_PARTY and imported not in seen and module_file(imported):
                seen.add(imported)
                todo.append([*chain, imported])
    return chains


def app_modules() -> list[str]:
    modules = [f"ledger_service.app.{p.stem}" for p in sorted(APP.glob("*.py"))]
    assert "ledger_service.app.webhooks" in modules  # the scan looks where it should
    return modules


def test_no_app_module_reaches_a_database_driver() -> None:
    broken = {m: driver_chains(m) for m in app_modules()}
    broken = {m: chains for m, chains in broken.items() if chains}
    assert broken == {}, "\n".join(
        " -> ".join(chain) for chains in broken.values() for chain in chains
    )


def test_no_app_module_imports_an_adapter() -> None:
    found = {
        module: sorted(i for i in imports_of(module) if i.startswith("ledger_service.adapters"))
        for module in app_modules()
    }
    assert {m: i for m, i in found.items() if i} == {}


def test_the_scan_finds_a_driver_behind_an_adapter() -> None:
    # The scan itself: the SQL unit of work does reach a driver, through its own imports.
    chains = driver_chains("ledger_service.adapters.db.unit_of_work")
    assert {chain[-1].split(".")[0] for chain in chains} == {"sqlalchemy", "asyncpg"}
