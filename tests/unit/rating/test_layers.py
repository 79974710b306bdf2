"""Rating's layers, read from the source (no import is run): the domain imports nothing but the
domain and billing_common's pure modules; no app module reaches gRPC (the ledger port speaks
rating's terms; the ledger client translates) nor the database (every use case, synchronous
ingest included, goes through the storage ports, app/stores.py); the app modules import one another
without a cycle (function-local imports included)."""

from __future__ import annotations

from tests.support.imports import chains_to, imports_of, modules_under

FIRST_PARTY = ("rating_service", "billing_common")


def test_the_domain_imports_only_the_domain_and_pure_shared_modules() -> None:
    domain = modules_under("rating_service.domain")
    assert "rating_service.domain.batch" in domain  # the scan looks where it should
    allowed = ("rating_service.domain", "billing_common.money", "billing_common.periods")
    allowed += ("billing_common.errors",)
    found = {
        m: sorted(
            i
            for i in imports_of(m)
            if i.split(".")[0] in FIRST_PARTY
            and i not in FIRST_PARTY  # the packages themselves: empty __init__s
            and not i.startswith(allowed)
        )
        for m in domain
    }
    assert {m: i for m, i in found.items() if i} == {}
    outside = {
        m: chains_to(m, ("grpc", "sqlalchemy", "asyncpg", "structlog"), FIRST_PARTY) for m in domain
    }
    assert {m: c for m, c in outside.items() if c} == {}


def test_no_app_module_reaches_grpc() -> None:
    app = modules_under("rating_service.app")
    assert "rating_service.app.ports" in app
    broken = {m: chains_to(m, ("grpc", "google"), FIRST_PARTY) for m in app}
    assert {m: c for m, c in broken.items() if c} == {}


def test_the_use_cases_reach_storage_only_through_its_port() -> None:
    app = modules_under("rating_service.app")
    assert {"rating_service.app.invoices", "rating_service.app.ingest"} <= set(app)
    found = {
        m: chains_to(m, ("sqlalchemy", "asyncpg", "rating_service.adapters"), FIRST_PARTY)
        for m in app
    }
    assert {m: c for m, c in found.items() if c} == {}


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
    chains = chains_to("rating_service.adapters.ledger_client", ("grpc",), FIRST_PARTY)
    assert chains and chains[0][-1].split(".")[0] == "grpc"
