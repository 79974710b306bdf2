"""Exactness does not depend on import order: every money operation runs under the explicit money
context (100 digits, rounding trapped), whatever decimal context the caller has, and importing
the money module changes no global state.

Each check runs in a fresh interpreter, so nothing this test session imported first can help.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_fresh(code: str) -> dict[str, object]:
    """Run `code` in a new interpreter (repository and generated code on the path); it prints
    one JSON document, which is returned."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "gen" / "python")])
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# A 38-significant-digit amount: at the default 28 digits, taking 1e-18 from it rounds.
BIG = "12345678901234567890.123456789012345678"


def test_burndown_alone_is_exact_and_traps_rounding() -> None:
    result = run_fresh(
        f"""
        import decimal, json
        from datetime import UTC, datetime
        from decimal import Decimal

        from ledger_service.domain import burndown
        from ledger_service.domain.model import Grant, GrantKind

        T0 = datetime(2026, 1, 1, tzinfo=UTC)

        def grant(remaining):
            return Grant(id="g", wallet_id="w", kind=GrantKind.PREPAID, amount=remaining,
                         remaining=remaining, priority=0, effective_time=T0, expire_time=None,
                         create_time=T0)

        _, left = burndown.allocate([grant(Decimal("0.000000000000000001"))], Decimal("{BIG}"))
        try:
            # 1e80 - 1e-30 needs 111 digits: more than the money context holds.
            burndown.allocate([grant(Decimal("1E-30"))], Decimal("1E+80"))
            trapped = "no"
        except decimal.Inexact:
            trapped = "Inexact"
        ctx = decimal.getcontext()
        print(json.dumps({{
            "left": str(left),
            "trapped": trapped,
            "caller_prec": ctx.prec,
            "caller_traps_inexact": bool(ctx.traps[decimal.Inexact]),
        }}))
        """
    )
    assert result == {
        "left": "12345678901234567890.123456789012345677",
        "trapped": "Inexact",
        # The caller's own context is left as it was: nothing is set globally.
        "caller_prec": 28,
        "caller_traps_inexact": False,
    }


def test_domain_is_exact_under_a_hostile_caller_context() -> None:
    """A caller running with 6 digits and no traps still gets exact ledger and rating results."""
    result = run_fresh(
        f"""
        import decimal, json
        from datetime import UTC, datetime, timedelta
        from decimal import Decimal

        decimal.setcontext(decimal.Context(prec=6, traps=[]))

        from ledger_service.domain import ledger
        from ledger_service.domain.balance import project
        from ledger_service.domain.model import Grant, GrantKind, OveragePolicy, Wallet, WalletState
        from rating_service.domain.pricing import Pricing, PricingModel, price

        T0 = datetime(2026, 1, 1, tzinfo=UTC)
        wallet = Wallet("w", "c", "CREDITS", OveragePolicy.DENY, timedelta(hours=1), T0)
        big = Decimal("{BIG}")
        g = Grant(id="g", wallet_id="w", kind=GrantKind.PREPAID, amount=big, remaining=big,
                  priority=0, effective_time=T0, expire_time=None, create_time=T0)
        state = WalletState(wallet, {{"g": g}}, Decimal(0))
        out = ledger.debit(
            state, amount=Decimal("0.000000000000000001"), occurred_time=T0, now=T0
        )
        view = project(out.state, T0)
        per_unit = Pricing(PricingModel.PER_UNIT, unit_price=Decimal("0.000000000000000003"))
        print(json.dumps({{
            "available": str(view.available),
            "entry": str(out.entries[0].amount),
            "price": str(price(per_unit, big)),
            "caller_prec": decimal.getcontext().prec,
        }}))
        """
    )
    assert result == {
        "available": "12345678901234567890.123456789012345677",
        "entry": "-1E-18",
        "price": "37.037036703703703670370370367037037034",
        "caller_prec": 6,
    }


def test_importing_the_money_module_changes_no_global_context() -> None:
    result = run_fresh(
        """
        import decimal, json
        before = repr(decimal.getcontext()), decimal.DefaultContext.prec
        import billing_common.money
        after = repr(decimal.getcontext()), decimal.DefaultContext.prec
        print(json.dumps({"same": before == after}))
        """
    )
    assert result == {"same": True}
