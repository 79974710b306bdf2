"""The customer page (portal/, served by the ledger at /portal/) in a real browser: Debian's
chromium (`make browser-tools`) driven by Playwright, over the real ledger and rating services'
HTTP/JSON ports, with customer-scoped read keys in the address's fragment."""

from __future__ import annotations

import os
import ssl
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from billing.auth.v1 import api_keys_pb2 as kpb
from billing.auth.v1 import api_keys_pb2_grpc
from billing.ledger.v1 import ledger_pb2 as lpb
from billing.rating.v1 import rating_pb2 as pb
from playwright.async_api import async_playwright

from tests.support.channels import open_channel
from tests.support.ledger import make_grant, make_wallet, rid
from tests.support.rating import event, ingest, setup_customer
from tests.support.servers import START, RatingOverLedger
from tests.support.tls import dev_ca

CHROMIUM = Path("/usr/bin/chromium")
# Where the page's screenshot goes: docs/customer-page.png with `make screenshot`.
SCREENSHOT = os.environ.get("PORTAL_SCREENSHOT", "")


def chromium() -> Path:
    if not CHROMIUM.exists():
        if os.geteuid() != 0:
            pytest.skip("chromium is not installed and cannot be (apt-get needs root)")
        pytest.fail("chromium is not installed: run `make browser-tools` (apt-get)")
    return CHROMIUM


async def read_key(channel_target: str, customer: str) -> str:
    """A read key bound to `customer`, made through the service's ApiKeyService."""
    channel = open_channel(channel_target)
    try:
        made = await api_keys_pb2_grpc.ApiKeyServiceStub(channel).CreateApiKey(
            kpb.CreateApiKeyRequest(
                request_id=rid(), name="customer page", scopes=["read"], customer_ids=[customer]
            )
        )
        return str(made.secret)
    finally:
        await channel.close()


async def test_the_page_shows_the_ledgers_balance_the_debit_and_the_usage_chart(
    both: RatingOverLedger, tmp_path: Path
) -> None:
    browser_path = chromium()
    ledger = both.ledger
    customer = f"acme-{rid()[:6]}"
    wallet = await make_wallet(ledger.stub, customer_id=customer)
    await make_grant(ledger.stub, wallet.wallet_id, "500")
    await make_grant(ledger.stub, wallet.wallet_id, "20", kind=lpb.GRANT_KIND_PROMOTIONAL)
    await setup_customer(both.stub, start=START, wallet_id=wallet.wallet_id, customer_id=customer)
    ledger.clock.set(START + timedelta(days=2))
    units = ["40", "24"]
    for hours, count in zip((1, 30), units, strict=True):
        at = START + timedelta(hours=hours)
        answer = await ingest(both.stub, [event(customer, at, units=count)], sync=True)
        assert answer.results[0].status == pb.EVENT_STATUS_CHARGED, answer
    balance = await ledger.stub.GetBalance(lpb.GetBalanceRequest(wallet_id=wallet.wallet_id))
    entries = await ledger.stub.ListEntries(lpb.ListEntriesRequest(wallet_id=wallet.wallet_id))
    debit = next(e for e in entries.entries if e.type == lpb.ENTRY_TYPE_DEBIT)

    origin = f"https://127.0.0.1:{ledger.ledger.server.http_port}"
    fragment = urlencode(
        {
            "wallet": wallet.wallet_id,
            "key": await read_key(ledger.target, customer),
            "rating_key": await read_key(both.target, customer),
            "rating": f"https://127.0.0.1:{both.rating.server.http_port}",
        }
    )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(browser_path))
        try:
            # The services' certificate is from the tests' CA, which this browser does not know.
            context = await browser.new_context(
                ignore_https_errors=True, viewport={"width": 1100, "height": 900}
            )
            page = await context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda error: problems.append(str(error)))
            await page.goto(f"{origin}/portal/#{fragment}")
            await page.wait_for_selector("body[data-loaded]", timeout=15_000)
            assert problems == []
            assert await page.get_attribute("body", "data-loaded") == "true", (
                await page.text_content("#error")
            )

            assert await page.text_content("#available") == balance.balance.available
            row = page.locator(f'tr[data-entry-id="{debit.entry_id}"]')
            assert await row.count() == 1
            on = debit.occurred_time.ToDatetime()
            human = f"{debit.amount} credits for {debit.feature} on {on:%b} {on.day}"
            assert human in await row.inner_text()

            charted = await page.evaluate(
                """() => {
                    const canvas = document.querySelector('#usage-chart');
                    const chart = window.Chart.getChart(canvas);
                    const pixels = canvas.getContext('2d')
                        .getImageData(0, 0, canvas.width, canvas.height).data;
                    let painted = 0;
                    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
                    return {
                        values: chart.data.datasets.flatMap((d) => d.data),
                        painted,
                    };
                }"""
            )
            assert sorted(Decimal(str(v)) for v in charted["values"] if v) == sorted(
                Decimal(u) for u in units
            )
            assert charted["painted"] > 0
            await page.screenshot(path=SCREENSHOT or str(tmp_path / "page.png"), full_page=True)
        finally:
            await browser.close()


async def test_the_page_is_served_without_a_credential_and_its_api_calls_need_one(
    both: RatingOverLedger,
) -> None:
    ledger_port = both.ledger.ledger.server.http_port
    origin = f"https://127.0.0.1:{ledger_port}"
    rating = f"https://127.0.0.1:{both.rating.server.http_port}"
    trust = ssl.create_default_context(cafile=str(dev_ca().ca))
    async with httpx.AsyncClient(verify=trust) as http:
        page = await http.get(f"{origin}/portal/")
        config = await http.get(f"{origin}/portal/config.json")
        balance = await http.post(
            f"{origin}/billing.ledger.v1.LedgerService/GetBalance",
            json={"wallet_id": "w"},
        )
        allowed = await http.options(
            f"{rating}/billing.rating.v1.RatingService/GetUsage",
            headers={"origin": origin, "access-control-request-method": "POST"},
        )
        other = await http.options(
            f"{rating}/billing.rating.v1.RatingService/GetUsage",
            headers={
                "origin": "https://elsewhere.example",
                "access-control-request-method": "POST",
            },
        )

    assert page.status_code == 200 and "portal.js" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert config.json()["ratingUrl"] == "https://127.0.0.1:8052"
    assert balance.status_code == 401
    assert allowed.headers["access-control-allow-origin"] == origin
    assert "authorization" in allowed.headers["access-control-allow-headers"]
    assert "access-control-allow-origin" not in other.headers
