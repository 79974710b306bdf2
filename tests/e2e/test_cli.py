"""The `billing` operator CLI against both real services over gRPC (embedded PostgreSQL).

The CLI is synchronous; it runs in a worker thread while the in-process servers keep serving on the
test's event loop. One test runs the real entry point, `python -m billing_cli`, as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import grpc
import pytest
from billing.ledger.v1 import ledger_pb2 as pb

from billing_common import api_keys
from tests.support.channels import admin_key
from tests.support.cli import UUID, Cli, Services, rows
from tests.support.rating import setup_customer
from tests.support.servers import START, RunningLedger

T = START + timedelta(hours=1)


async def test_wallet_grant_debit_balance_history_and_holds(ledger_server: RunningLedger) -> None:
    cli = Cli(ledger_server.target)

    created = await cli("--json", "wallets", "create", "--customer", "acme", "-m", "tier=gold")
    wallet = created.json()
    wallet_id = wallet["wallet_id"]
    assert (wallet["customer_id"], wallet["unit"]) == ("acme", "CREDITS")
    assert wallet["overage_policy"] == "OVERAGE_POLICY_DENY"
    assert UUID.search(created.stderr), created.stderr  # the generated request id is announced

    shown = await cli("wallets", "get", wallet_id)
    assert wallet_id in shown.stdout and "deny" in shown.stdout and "tier=gold" in shown.stdout
    listed = await cli("--wide", "wallets", "list", "--customer", "acme")
    assert list(rows(listed.stdout)) == ["Wallet", wallet_id]

    # A grant; the same request id again replays it instead of granting twice.
    rid = "0b0e6f5e-5b8a-4d57-9d0c-6b1f6f0a0001"
    grant = (
        await cli("--json", "grants", "create", wallet_id, "100.50", "--request-id", rid)
    ).json()
    grant_id = grant["grant"]["grant_id"]
    assert grant["grant"]["amount"] == "100.5"
    again = await cli("--json", "grants", "create", wallet_id, "100.50", "--request-id", rid)
    assert again.json()["grant"]["grant_id"] == grant_id
    assert f"request id: {rid}" in again.stderr
    promo = await cli(
        "grants", "create", wallet_id, "5", "--kind", "promotional", "--expire", "2026-03-01"
    )
    assert "promotional" in promo.stdout and "2026-03-01 00:00" in promo.stdout  # readable

    debit = await cli("--wide", "debit", wallet_id, "30.25", "--feature", "search")
    entry = rows(debit.stdout)
    [entry_row] = [v for v in entry.values() if v[0] == "debit"]
    assert entry_row[:3] == ["debit", "-30.25", "75.25"]  # type, amount, available after
    allocations = {k: v for k, v in entry.items() if v == ["-5"] or v == ["-25.25"]}
    assert list(allocations.values()) == [["-5"], ["-25.25"]]  # promotional burns first
    assert grant_id in allocations

    table = await cli("--wide", "balance", wallet_id)
    figures = rows(table.stdout)
    assert figures["available"] == ["75.25"]
    assert figures["held"] == ["0"]
    assert figures["overage"] == ["0"]
    assert figures["promotional available"] == ["0"]  # promotional burns first
    assert figures["prepaid available"] == ["75.25"]
    assert grant_id in table.stdout

    bal = (await cli("--json", "balance", wallet_id)).json()
    assert Decimal(bal["available"]) == Decimal("75.25")
    assert [g["grant_id"] for g in bal["grants"]] == [grant_id]
    assert bal["grants"][0]["remaining_amount"] == "75.25"
    past = (await cli("--json", "balance", wallet_id, "--as-of", "2025-12-31T00:00:00Z")).json()
    assert past["available"] == "0"

    history = (await cli("--json", "history", wallet_id)).json()
    assert [e["type"] for e in history["entries"]] == [
        "ENTRY_TYPE_DEBIT",
        "ENTRY_TYPE_GRANT",
        "ENTRY_TYPE_GRANT",
    ]
    # Who wrote each entry: the CLI's key (the session's admin key) made every call here.
    actor = f"key:{api_keys.key_id_of(admin_key())}"
    assert {e["actor"] for e in history["entries"]} == {actor}
    assert actor in (await cli("history", wallet_id)).stdout
    debits = (await cli("--json", "history", wallet_id, "--type", "debit")).json()
    assert [(e["amount"], e["feature"]) for e in debits["entries"]] == [("-30.25", "search")]
    paged = await cli("history", wallet_id, "--limit", "1")
    assert "debit" in paged.stdout and "more: --page-token" in paged.stderr
    token = paged.stderr.split("--page-token", 1)[1].split()[0]
    rest = (await cli("--json", "history", wallet_id, "--page-token", token)).json()
    assert [e["type"] for e in rest["entries"]] == ["ENTRY_TYPE_GRANT", "ENTRY_TYPE_GRANT"]

    # Holds: reserve, capture part of it.
    create = ("holds", "create", wallet_id, "20", "--feature", "render", "--expires-in", "2h")
    hold = (await cli("--json", *create)).json()
    hold_id = hold["hold"]["hold_id"]
    assert hold["hold"]["state"] == "HOLD_STATE_ACTIVE"
    assert hold["hold"]["expire_time"] == "2026-01-01T02:00:00Z"
    held = rows((await cli("balance", wallet_id)).stdout)
    assert (held["available"], held["held"]) == (["55.25"], ["20"])
    captured = await cli("--wide", "holds", "capture", hold_id, "15")
    assert rows(captured.stdout)[hold_id][:4] == [wallet_id, "20", "15", "captured"]
    after = (await cli("--json", "balance", wallet_id)).json()
    assert (after["available"], after["held"]) == ("60.25", "0")
    twice = await cli("holds", "capture", hold_id, "1", expect=1)
    assert "CaptureHold failed: FAILED_PRECONDITION HOLD_NOT_ACTIVE" in twice.stderr
    other = (await cli("--json", "holds", "create", wallet_id, "7")).json()["hold"]["hold_id"]
    released = await cli("--json", "holds", "release", other, "--reason", "job cancelled")
    assert released.json()["hold"]["state"] == "HOLD_STATE_RELEASED"
    assert (await cli("--json", "holds", "get", other)).json()["state"] == "HOLD_STATE_RELEASED"

    # Voiding a grant.
    grants = (await cli("--json", "grants", "list", wallet_id)).json()["grants"]
    assert len(grants) == 2
    voided = await cli("grants", "void", grant_id, "--reason", "refunded order")
    assert "voided" in voided.stdout and "refunded order" in voided.stdout
    assert (await cli("--json", "balance", wallet_id)).json()["available"] == "0"


async def test_errors_show_code_reason_and_fields_and_exit_non_zero(
    ledger_server: RunningLedger,
) -> None:
    cli = Cli(ledger_server.target)
    wallet_id = (await cli("--json", "wallets", "create", "--customer", "err")).json()["wallet_id"]
    await cli("grants", "create", wallet_id, "10")

    refused = await cli("debit", wallet_id, "11", "--feature", "search", expect=1)
    assert "Debit failed: FAILED_PRECONDITION INSUFFICIENT_CREDITS" in refused.stderr
    assert refused.stdout == ""

    missing = await cli("--json", "balance", "no-such-wallet", expect=1)
    error = json.loads(missing.stderr.splitlines()[-1])["error"]
    assert (error["code"], error["reason"]) == ("NOT_FOUND", "WALLET_NOT_FOUND")

    priced = ("grants", "create", wallet_id, "1", "--unit-price", "2", "--currency", "usd")
    bad = await cli("--json", *priced, expect=1)
    error = json.loads(bad.stderr.splitlines()[-1])["error"]  # after the "request id:" note
    assert (error["code"], error["reason"]) == ("INVALID_ARGUMENT", "INVALID_CURRENCY")
    assert [v["field"] for v in error["field_violations"]] == ["cost_basis.currency"]
    assert error["request_id"]

    table = await cli(*priced, expect=1)
    assert "INVALID_ARGUMENT INVALID_CURRENCY" in table.stderr
    assert "field cost_basis.currency: an ISO 4217 code such as USD" in table.stderr

    # Bad input caught before any call: usage error, exit 2.
    local = await cli("debit", wallet_id, "ten", "--feature", "search", expect=2)
    assert "not a plain decimal number" in local.stderr
    zero = await cli("debit", wallet_id, "0", "--feature", "search", expect=2)
    assert "must be greater than zero" in zero.stderr

    # A service that is not there: UNAVAILABLE after the retries, with the id to retry with.
    down = Cli("127.0.0.1:1")
    gone = await down("--timeout", "2", "grants", "create", wallet_id, "1", expect=1)
    assert "CreateGrant failed: UNAVAILABLE" in gone.stderr
    rid = UUID.search(gone.stderr).group(1)  # type: ignore[union-attr]
    assert f"retry with --request-id {rid}" in gone.stderr


async def test_the_cli_refuses_amounts_the_server_refuses_and_sends_nothing(
    ledger_server: RunningLedger,
) -> None:
    """Each text is refused by the server itself (sent raw) and by the CLI before any call; the
    wallet is untouched. "1e3" used to debit 1,000."""
    cli = Cli(ledger_server.target)
    wallet_id = (await cli("--json", "wallets", "create", "--customer", "amt")).json()["wallet_id"]
    await cli("grants", "create", wallet_id, "5000")
    for text in ["1e3", "1E+3", "NaN", "Infinity", "0.0000000000000000001", "-5", "0", " 12"]:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await ledger_server.stub.Debit(
                pb.DebitRequest(request_id=f"raw-{text}", wallet_id=wallet_id, amount=text)
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, text
        # "--" ends the options, so "-5" is read as the amount.
        local = await cli("debit", "--feature", "search", "--", wallet_id, text, expect=2)
        assert "AMOUNT" in local.stderr, text
        held = await cli("holds", "create", "--", wallet_id, text, expect=2)
        assert "AMOUNT" in held.stderr, text
    assert (await cli("--json", "balance", wallet_id)).json()["available"] == "5000"
    listed = (await cli("--json", "history", wallet_id)).json()
    assert [e["type"] for e in listed["entries"]] == ["ENTRY_TYPE_GRANT"]


async def test_a_given_grace_or_timeout_is_never_replaced_by_the_default(
    ledger_server: RunningLedger,
) -> None:
    """An option given empty is refused (exit 2), not dropped in favour of the server's default;
    an explicit zero grace is sent as a zero duration (field present)."""
    cli = Cli(ledger_server.target)
    await cli("wallets", "create", "--customer", "g0", "--grace", "", expect=2)
    wallet_id = (await cli("--json", "wallets", "create", "--customer", "g1")).json()["wallet_id"]
    await cli("grants", "create", wallet_id, "10")
    await cli("holds", "create", wallet_id, "1", "--expires-in", "", expect=2)
    await cli("debit", wallet_id, "1", "--occurred", "", expect=2)
    await cli("grants", "create", wallet_id, "1", "--expire", "", expect=2)
    await cli("balance", wallet_id, "--as-of", "", expect=2)
    assert (await cli("--json", "balance", wallet_id)).json()["available"] == "10"
    listed = (await cli("--json", "wallets", "list", "--customer", "g0")).json()
    assert listed["wallets"] == []


async def test_events_import_and_invoices(services: Services, tmp_path: Path) -> None:
    cli = services.cli
    wallet_id = (
        await cli("--json", "wallets", "create", "--customer", "ev", "--overage", "allow")
    ).json()["wallet_id"]
    await cli("grants", "create", wallet_id, "100")
    s = await setup_customer(
        services.rating_stub, start=START, wallet_id=wallet_id, customer_id="ev"
    )
    services.ledger.clock.set(T)

    def event(event_id: str, units: object, at: str = "2026-01-01T01:00:00Z") -> str:
        return json.dumps(
            {
                "event_id": event_id,
                "customer_id": s.customer_id,
                "type": "api.call",
                "occurred_time": at,
                "properties": {"units": units},
            }
        )

    lines = [
        event("e1", "4"),
        event("e2", 6),
        "{not json",
        "",
        event("e3", 2),
        event("late", "1", at="2026-01-02T00:00:00Z"),  # in the future for the service
        event("e4", 8),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")

    first = await cli("events", "import", str(path), "--batch-size", "2", expect=3)
    counts = rows(first.stdout)
    assert (counts["ACCEPTED"], counts["DUPLICATE"], counts["REJECTED"]) == (["4"], ["0"], ["2"])
    rejects = {k: v for k, v in counts.items() if k.isdigit()}
    assert rejects["3"][:4] == ["", "REJECTED", "", "INVALID_LINE"]  # line 3: not JSON
    assert rejects["6"][:4] == ["late", "REJECTED", "INVALID_ARGUMENT", "EVENT_IN_FUTURE"]

    again = await cli("--json", "events", "import", str(path), "--no-progress", expect=3)
    summary = again.json()
    assert summary["counts"] == {
        "accepted": 0,
        "charged": 0,
        "duplicate": 4,
        "rejected": 2,
        "denied": 0,
    }
    assert summary["reasons"] == {"INVALID_LINE": 1, "EVENT_IN_FUTURE": 1}
    assert [(r["line"], r["event_id"]) for r in summary["rejects"]] == [(3, ""), (6, "late")]

    good = tmp_path / "good.jsonl"
    good.write_text(event("e5", "2.5") + "\n")
    ok = await cli("--json", "events", "import", str(good), "--sync")
    assert ok.json()["counts"]["charged"] == 1

    await services.rating.forwarder.run_once()
    # 4 + 6 + 2 + 8 + 2.5 = 22.5 units at 0.5 credits.
    invoice = (await cli("--json", "invoices", "get", "--customer", s.customer_id)).json()
    assert (invoice["usage_total"], invoice["status"]) == ("11.25", "INVOICE_STATUS_DRAFT")
    assert invoice["lines"][0]["quantity"] == "22.5"
    by_id = await cli("--wide", "invoices", "get", invoice["invoice_id"])
    assert "11.25" in by_id.stdout and invoice["lines"][0]["line_id"] in by_id.stdout
    assert re.search(r"^\s*total\s+11\.25\s*$", by_id.stdout, re.MULTILINE), by_id.stdout

    listed = await cli("--wide", "invoices", "list", "--customer", s.customer_id)
    assert rows(listed.stdout)[invoice["invoice_id"]][3] == "draft"

    balance = (await cli("--json", "balance", wallet_id)).json()
    assert balance["available"] == str(Decimal(100) - Decimal("11.25"))

    services.ledger.clock.set(START + timedelta(days=32))  # the January period has ended
    closed = (
        await cli(
            "--json", "invoices", "close", "--customer", s.customer_id, "--period", "2026-01-15"
        )
    ).json()
    assert (closed["invoice_id"], closed["status"]) == (
        invoice["invoice_id"],
        "INVOICE_STATUS_FINAL",
    )


async def test_python_m_billing_cli_entry_point(ledger_server: RunningLedger) -> None:
    async def run(*args: str) -> tuple[int, str, str]:
        env = {**os.environ, "BILLING_LEDGER": ledger_server.target, "BILLING_API_KEY": admin_key()}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "billing_cli",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        return proc.returncode or 0, out.decode(), err.decode()

    code, out, err = await run("--json", "wallets", "create", "--customer", "sub", "--unit", "USD")
    assert code == 0, err
    wallet_id = json.loads(out)["wallet_id"]
    code, out, _ = await run("--json", "wallets", "list", "--customer", "sub")
    assert [w["wallet_id"] for w in json.loads(out)["wallets"]] == [wallet_id]
    code, out, err = await run("debit", wallet_id, "1", "--feature", "x")
    assert code == 1 and "INSUFFICIENT_CREDITS" in err
    code, _, err = await run("debit", wallet_id, "ten", "--feature", "x")
    assert code == 2 and "not a plain decimal number" in err


async def test_keys_create_list_and_revoke_with_the_key_shown_once(
    ledger_server: RunningLedger,
) -> None:
    cli = Cli(ledger_server.target)
    argv = ("keys", "create", "export job", "--scope", "read", "--customer", "acme")
    made = await cli("--json", *argv, "--request-id", "key-1")
    created = made.json()
    key_id, secret = created["api_key"]["key_id"], created["secret"]
    assert secret.startswith(f"bk_{key_id}_")
    assert (created["api_key"]["scopes"], created["api_key"]["customer_ids"]) == (
        ["read"],
        ["acme"],
    )
    again = await cli(*argv, "--request-id", "key-1")
    assert "shown once, when it was created" in again.stdout and secret not in again.stdout

    listed = (await cli("--json", "keys", "list")).json()["api_keys"]
    assert key_id in [k["key_id"] for k in listed]
    assert secret not in json.dumps(listed)

    # The new key holds read only: key management refuses it.
    denied = await cli("--json", "keys", "list", expect=1, api_key=secret)
    error = json.loads(denied.stderr.splitlines()[-1])["error"]
    assert (error["code"], error["reason"]) == ("PERMISSION_DENIED", "SCOPE_MISSING")

    revoked = (await cli("--json", "keys", "revoke", key_id)).json()
    assert revoked["api_key"]["revoke_time"]
    bad = await cli("keys", "list", "--service", "billing", expect=2)
    assert "ledger or rating" in bad.stderr


async def test_authorize_answers_allowed_or_denied_and_can_hold(
    ledger_server: RunningLedger,
) -> None:
    cli = Cli(ledger_server.target)
    wallet_id = (await cli("--json", "wallets", "create", "--customer", "authz")).json()[
        "wallet_id"
    ]
    await cli("grants", "create", wallet_id, "50")

    allowed = await cli("--wide", "authorize", wallet_id, "20", "--feature", "report")
    figures = rows(allowed.stdout)
    assert "allowed" in allowed.stdout
    assert (figures["reason"], figures["available after"]) == (["allowed"], ["30"])
    assert "request id" not in allowed.stderr  # a pure check writes nothing: no request id

    denied = await cli("--json", "authorize", wallet_id, "80", expect=4)
    answer = denied.json()
    assert (answer.get("allowed", False), answer["reason"], answer["shortfall"]) == (
        False,
        "AUTHORIZE_REASON_INSUFFICIENT_CREDITS",
        "30",
    )

    held = await cli("--json", "authorize", wallet_id, "20", "--hold", "--ttl", "10m")
    hold = held.json()["hold"]
    assert (hold["amount"], hold["state"]) == ("20", "HOLD_STATE_ACTIVE")
    assert hold["expire_time"] == "2026-01-01T00:10:00Z"
    assert UUID.search(held.stderr), held.stderr  # with a hold: a request id, announced
    balance = (await cli("--json", "balance", wallet_id)).json()
    assert (balance["available"], balance["held"]) == ("30", "20")
    await cli("authorize", wallet_id, "5", "--ttl", "10m", expect=1)  # --ttl needs --hold


async def test_authorize_shows_the_top_up_a_debit_would_buy(ledger_server: RunningLedger) -> None:
    cli = Cli(ledger_server.target)
    wallet_id = (await cli("--json", "wallets", "create", "--customer", "authz-top-up")).json()[
        "wallet_id"
    ]
    await cli("grants", "create", wallet_id, "10")
    rule = pb.TopUpRule(
        wallet_id=wallet_id,
        threshold="0",
        amount="100",
        kind=pb.GRANT_KIND_PREPAID,
        unit_price="0.01",
        currency="USD",
        payment=pb.TOP_UP_PAYMENT_IMMEDIATE,
    )
    await ledger_server.stub.SetTopUpRule(pb.SetTopUpRuleRequest(request_id="r-rule", rule=rule))

    allowed = await cli("--wide", "authorize", wallet_id, "150")
    figures = rows(allowed.stdout)
    assert (figures["reason"], figures["top-up"], figures["available after"]) == (
        ["allowed_with_top_up"],
        ["200"],
        ["60"],
    )
    answer = (await cli("--json", "authorize", wallet_id, "150")).json()
    assert (answer["reason"], answer["top_up_amount"]) == (
        "AUTHORIZE_REASON_ALLOWED_WITH_TOP_UP",
        "200",
    )
