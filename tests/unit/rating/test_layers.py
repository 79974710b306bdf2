"""Rating's layers, read from the source (no import is run): the domain imports nothing but the
domain and billing_common's pure modules; no app module reaches gRPC (the ledger port speaks
rating's terms; the ledger client translates); the app modules import one another without a
cycle (function-local imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FIRST_PARTY = ("rating_service", "billing_common")


def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imports_of(name: str) -> set[str]:
    """Every module `name` imports, at any depth of its code (`from package import module`
    resolved to the module)."""
    path = module_file(name)
    assert path is not None, name
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module is not None, name
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if module_file(f"{node.module}.{alias.name}") is not None
            )
    return found


def modules_under(package: str) -> list[str]:
    folder = ROOT.joinpath(*package.split("."))
    return [f"{package}.{p.stem}" for p in sorted(folder.glob("*.py")) if p.stem != "__init__"]


def chains_to(start: str, forbidden: tuple[str, ...]) -> list[list[str]]:
    """Import chains from `start` through first-party modules to a forbidden top-level package."""
    chains: list[list[str]] = []
    seen = {start}
    todo = [[start]]
    while todo:
        chain = todo.pop()
        for imported in sorted(imports_of(chain[-1])):
            top = imported.split(".")[0]
            if top in forbidden:
                chains.append([*chain, imported])
            elif top in FIRST_PARTY and imported not in seen and module_file(imported):
                seen.add(imported)
                todo.append([*chain, imported])
    return chains


def test_the_domain_imports_only_the_domain_and_pure_shared_modules() -> None:
    domain = modules_under("rating_service.domain")
    assert "rating_service.domain.batch" in domain  # the scan looks where it should
    allowed = ("rating_service.domain", "billing_common.money", "billing_common.periods")
    allowed += ("billing_common.errors",)
    found = {
        m: sorted(
            i for i in imports_of(m) if i.split(".")[0] in FIRST_PARTY and not i.startswith(allowed)
        )
        for m in domain
    }
    assert {m: i for m, i in found.items() if i} == {}
    outside = {m: chains_to(m, ("grpc", "sqlalchemy", "asyncpg", "structlog")) for m in domain}
    assert {m: c for m, c in outside.items() if c} == {}


def test_no_app_module_reaches_grpc() -> None:
    app = modules_under("rating_service.app")
    assert "rating_service.app.ports" in app
    broken = {m: chains_to(m, ("grpc", "google")) for m in app}
    assert {m: c for m, c in broken.items() if c} == {}


def test_the_app_modules_import_one_another_without_a_cycle() -> None:
    app = set(modules_under("rating_service.app"))
    graph = {m: {i for i in imports_of(m) if i in app} for m in app}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, " -> ".join([*path, module])
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, [*path, module])
        done.add(module)

    for module in sorted(app):
        visit(module, [])


def test_the_scan_finds_grpc_behind_the_ledger_client() -> None:
    chains = chains_to("rating_service.adapters.ledger_client", ("grpc",))
    assert chains and chains[0][-1].split(".")[0] == "grpc"
