"""The ledger's app layer talks to its ports (app/ports.py), never to SQLAlchemy or a driver: no
module under ledger_service/app imports sqlalchemy or asyncpg, directly or through the project's
own modules (save the exceptions listed in ALLOWED_VIA, with the reason), and none imports an
adapter. Read from the source (no import is run), so the chain that breaks the rule is named."""

from __future__ import annotations

from tests.support.imports import ROOT, chains_to, imports_of

APP = ROOT / "ledger_service" / "app"
FIRST_PARTY = ("ledger_service", "billing_common")
DRIVERS = ("sqlalchemy", "asyncpg")
# Chains through these modules are tolerated, each for a reason:
ALLOWED_VIA: dict[str, str] = {}  # none: the transport bounds have a module of their own


def driver_chains(start: str) -> list[list[str]]:
    """Import chains from `start` through first-party modules to a database driver."""
    return chains_to(start, DRIVERS, FIRST_PARTY, through_not=ALLOWED_VIA)


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
