"""The webhook use cases (app/webhooks.py) against the in-memory unit of work: endpoints are
idempotent by request_id and capped per scope, an event becomes one delivery per matching
endpoint however often the dispatcher runs, failed attempts are retried on the policy's backoff
until they fail for good, an attempt whose outcome was never stored is taken again once its lease
runs out, and finished deliveries are purged after their retention; the egress policy holds at
creation and at every delivery, secrets are stored only sealed, and a rotated secret signs beside
the new one for the overlap window only (fake clock)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from billing_common.clock import FakeClock
from billing_common.errors import InvalidArgument, RequestIdConflict
from ledger_service.adapters.secrets import AesGcmSealer
from ledger_service.app import commands as cmd
from ledger_service.app.service import LedgerApp, LedgerPolicy
from ledger_service.app.webhooks import (
    ENDPOINTS_PER_SCOPE_MAX,
    CreateEndpoint,
    RotateSecret,
    WebhookApp,
)
from ledger_service.domain import webhooks as rules
from ledger_service.domain.errors import (
    InsecureWebhookUrl,
    TooManyWebhookEndpoints,
    WalletNotFound,
    WebhookAddressRefused,
    WebhookEndpointNotFound,
)
from ledger_service.domain.model import EventType, GrantKind, OveragePolicy
from ledger_service.domain.webhooks import (
    Delivery,
    DeliveryState,
    RetentionPolicy,
    RetryPolicy,
    WebhookEndpoint,
)
from tests.unit.ledger.factories import T0
from tests.unit.ledger.fake_webhooks import FakeResolver
from tests.unit.ledger.fakes import FakeUnitOfWork

POLICY = RetryPolicy(
    first_delay=timedelta(seconds=10), delay_max=timedelta(minutes=1), attempts_max=3
)
LEASE = timedelta(minutes=2)
SEALER = AesGcmSealer(bytes(range(32)))


class FakeSender:
    """Answers a POST with its url's status in `by_url`, else the next scripted status (the last
    one repeats), and keeps what was sent; a status of None raises, as a process stopping
    mid-request would."""

    def __init__(self) -> None:
        self.script: list[int | None] = [200]
        self.by_url: dict[str, int] = {}
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []
        self.addresses: list[str] = []  # where each request was sent (asked, even if it failed)

    async def post(
        self, url: str, address: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str]:
        self.addresses.append(address)
        if url in self.by_url:
            status: int | None = self.by_url[url]
        else:
            status = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if status is None:
            raise RuntimeError("the process stopped during the request")
        self.sent.append((url, body, headers))
        return status, "" if rules.is_success(status) else f"HTTP {status}"

    async def aclose(self) -> None:
        pass


@pytest.fixture
def uow() -> FakeUnitOfWork:
    return FakeUnitOfWork()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def ledger(uow: FakeUnitOfWork, clock: FakeClock) -> LedgerApp:
    return LedgerApp(uow, clock, LedgerPolicy())


@pytest.fixture
def sender() -> FakeSender:
    return FakeSender()


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver()


@pytest.fixture
def hooks(ledger: LedgerApp, sender: FakeSender, resolver: FakeResolver) -> WebhookApp:
    return WebhookApp(
        ledger,
        sender,
        POLICY,
        LEASE,
        RetentionPolicy(timedelta(days=1), timedelta(days=3), batch_size_max=2),
        resolver=resolver,
        sealer=SEALER,
    )


def idem(request_id: str, method: str, content: str) -> cmd.Idem:
    return cmd.Idem(request_id, method, content.encode())


def encode_created(endpoint: WebhookEndpoint) -> bytes:
    return endpoint.id.encode()


async def create(
    hooks: WebhookApp,
    request_id: str,
    wallet_id: str = "",
    types: tuple[EventType, ...] = (),
    url: str = "https://example.test/hook",
) -> tuple[str, str]:
    command = CreateEndpoint(
        idem(request_id, "CreateWebhookEndpoint", f"{wallet_id}|{url}|{types}"),
        wallet_id,
        url,
        types,
        "",
    )
    stored, secret = await hooks.create_endpoint(command, encode_created, None)
    return stored.decode(), secret or ""


async def delete(hooks: WebhookApp, request_id: str, endpoint_id: str) -> bytes:
    return await hooks.delete_endpoint(
        idem(request_id, "DeleteWebhookEndpoint", endpoint_id),
        endpoint_id,
        lambda e: f"{e.id}|{e.delete_time}".encode(),
        None,
    )


async def wallet(ledger: LedgerApp, customer: str) -> str:
    created = await ledger.create_wallet(
        cmd.CreateWallet(
            idem(f"wallet-{customer}", "CreateWallet", customer),
            customer,
            "CREDITS",
            OveragePolicy.DENY,
            None,
        ),
        lambda w: w.id.encode(),
        cmd.SYSTEM,
    )
    return created.decode()


async def grant(ledger: LedgerApp, request_id: str, wallet_id: str) -> None:
    """Books a grant, and with it a GRANT_CREATED event."""
    command = cmd.CreateGrant(
        idem(request_id, "CreateGrant", request_id),
        wallet_id,
        GrantKind.PREPAID,
        Decimal(5),
        0,
        None,
        None,
        Decimal(0),
        "",
        "",
        "",
    )
    await ledger.create_grant(command, lambda g, entries, now: g.id.encode(), cmd.SYSTEM)


async def deliveries(hooks: WebhookApp, endpoint_id: str) -> list[Delivery]:
    return [d for _, d in await hooks.list_deliveries(endpoint_id, None, None, 100, None)]


# -- endpoints ------------------------------------------------------------------------------


async def test_creating_an_endpoint_replays_by_request_id_and_a_changed_request_conflicts(
    hooks: WebhookApp, ledger: LedgerApp
) -> None:
    w = await wallet(ledger, "c1")
    endpoint_id, secret = await create(hooks, "e1", w)
    assert secret.startswith("whsec_")
    # The same endpoint; its secret was shown once and is not kept in the stored response.
    assert await create(hooks, "e1", w) == (endpoint_id, "")
    with pytest.raises(RequestIdConflict):
        await create(hooks, "e1", w, url="https://elsewhere.test/hook")
    listed = await hooks.list_endpoints(w, 0, 100, None)
    assert [e.id for _, e in listed] == [endpoint_id]


async def test_an_endpoint_for_a_wallet_that_does_not_exist_is_refused_and_not_stored(
    hooks: WebhookApp, uow: FakeUnitOfWork
) -> None:
    with pytest.raises(WalletNotFound):
        await create(hooks, "e1", "no-such-wallet")
    assert uow.tables.webhooks.endpoints == {}
    assert "e1" not in uow.tables.keys  # a refusal is not remembered


async def test_each_scope_holds_at_most_its_cap_and_a_deleted_endpoint_frees_its_place(
    hooks: WebhookApp, ledger: LedgerApp
) -> None:
    w = await wallet(ledger, "c1")
    ids = [(await create(hooks, f"w{i}", w))[0] for i in range(ENDPOINTS_PER_SCOPE_MAX)]
    with pytest.raises(TooManyWebhookEndpoints):
        await create(hooks, "one-too-many", w)
    await create(hooks, "global", "")  # the global scope is counted on its own
    await delete(hooks, "d0", ids[0])
    await create(hooks, "in-its-place", w)


async def test_endpoints_list_in_creation_order_page_by_cursor_and_leave_deleted_ones_out(
    hooks: WebhookApp, ledger: LedgerApp
) -> None:
    w1, w2 = await wallet(ledger, "c1"), await wallet(ledger, "c2")
    a, _ = await create(hooks, "a", w1)
    b, _ = await create(hooks, "b", w2)
    c, _ = await create(hooks, "c", "")
    d, _ = await create(hooks, "d", w1)
    await delete(hooks, "del-c", c)
    first = await hooks.list_endpoints("", 0, 2, None)
    assert [e.id for _, e in first] == [a, b]
    rest = await hooks.list_endpoints("", first[-1][0], 2, None)
    assert [e.id for _, e in rest] == [d]
    assert [e.id for _, e in await hooks.list_endpoints(w1, 0, 10, None)] == [a, d]
    with pytest.raises(WalletNotFound):
        await hooks.list_endpoints("no-such-wallet", 0, 10, None)


async def test_deleting_replays_by_request_id_and_a_deleted_endpoint_is_not_found_again(
    hooks: WebhookApp, clock: FakeClock
) -> None:
    endpoint_id, _ = await create(hooks, "e1")
    clock.advance(timedelta(minutes=1))
    first = await delete(hooks, "d1", endpoint_id)
    assert first == f"{endpoint_id}|{clock.now()}".encode()
    clock.advance(timedelta(minutes=1))
    assert await delete(hooks, "d1", endpoint_id) == first  # the replay, not a second delete
    with pytest.raises(WebhookEndpointNotFound):
        await delete(hooks, "d2", endpoint_id)
    with pytest.raises(WebhookEndpointNotFound):
        await delete(hooks, "d3", "no-such-endpoint")
    with pytest.raises(WebhookEndpointNotFound):
        await hooks.list_deliveries("no-such-endpoint", None, None, 10, None)


# -- dispatch -------------------------------------------------------------------------------


async def test_an_endpoint_gets_each_matching_event_after_its_creation_once(
    hooks: WebhookApp, ledger: LedgerApp
) -> None:
    w1, w2 = await wallet(ledger, "c1"), await wallet(ledger, "c2")
    await grant(ledger, "before", w1)  # before the endpoint: never sent to it
    mine, _ = await create(hooks, "mine", w1, (EventType.GRANT_CREATED,))
    others, _ = await create(hooks, "others", w1, (EventType.CREDITS_EXPIRED,))
    everyone, _ = await create(hooks, "everyone", "")
    await grant(ledger, "g1", w1)
    await grant(ledger, "g2", w2)
    assert await hooks.dispatch() == 3  # g1 to `mine` and `everyone`, g2 to `everyone`
    assert await hooks.dispatch() == 0  # the cursors moved: nothing twice
    await grant(ledger, "g3", w1)
    assert await hooks.dispatch() == 2

    def wallets_of(endpoint_deliveries: list[Delivery]) -> list[str]:
        return [d.wallet_id for d in sorted(endpoint_deliveries, key=lambda d: d.event_seq)]

    assert wallets_of(await deliveries(hooks, mine)) == [w1, w1]
    assert await deliveries(hooks, others) == []
    assert wallets_of(await deliveries(hooks, everyone)) == [w1, w2, w1]
    assert all(
        d.state is DeliveryState.PENDING and d.event_type is EventType.GRANT_CREATED
        for d in await deliveries(hooks, everyone)
    )


async def test_deleting_an_endpoint_cancels_what_it_was_not_sent_yet(
    hooks: WebhookApp, ledger: LedgerApp, sender: FakeSender
) -> None:
    w = await wallet(ledger, "c1")
    endpoint_id, _ = await create(hooks, "e1", w)
    await grant(ledger, "g1", w)
    await hooks.dispatch()
    await delete(hooks, "d1", endpoint_id)
    (cancelled,) = await deliveries(hooks, endpoint_id)
    assert cancelled.state is DeliveryState.CANCELLED and cancelled.next_attempt_time is None
    await grant(ledger, "g2", w)
    assert (await hooks.dispatch(), await hooks.deliver()) == (0, 0)
    assert sender.sent == []


# -- delivery -------------------------------------------------------------------------------


async def test_a_delivered_event_is_signed_with_the_endpoints_secret_and_logged(
    hooks: WebhookApp, ledger: LedgerApp, sender: FakeSender, clock: FakeClock
) -> None:
    w = await wallet(ledger, "c1")
    endpoint_id, secret = await create(hooks, "e1", w, url="https://a.test/hook")
    await grant(ledger, "g1", w)
    await hooks.dispatch()
    assert await hooks.deliver() == 1
    assert await hooks.deliver() == 0  # delivered: never sent again
    ((url, body, headers),) = sender.sent
    assert url == "https://a.test/hook"
    assert rules.verify(secret, headers["Billing-Signature"], body)
    (delivered,) = await deliveries(hooks, endpoint_id)
    assert headers["Billing-Delivery-Id"] == delivered.id
    assert headers["Billing-Event-Id"] == delivered.event_id
    assert (delivered.state, delivered.attempts, delivered.end_time) == (
        DeliveryState.DELIVERED,
        1,
        clock.now(),
    )
    assert [(a.number, a.status_code, a.error) for a in delivered.attempt_log] == [(1, 200, "")]


async def test_a_failing_endpoint_is_retried_on_the_backoff_then_fails_for_good(
    hooks: WebhookApp, ledger: LedgerApp, sender: FakeSender, clock: FakeClock
) -> None:
    w = await wallet(ledger, "c1")
    endpoint_id, _ = await create(hooks, "e1", w)
    await grant(ledger, "g1", w)
    await hooks.dispatch()
    sender.script = [500]
    assert await hooks.deliver() == 1
    (waiting,) = await deliveries(hooks, endpoint_id)
    assert (waiting.state, waiting.last_status_code, waiting.next_attempt_time) == (
        DeliveryState.PENDING,
        500,
        clock.now() + POLICY.first_delay,
    )
    clock.advance(POLICY.first_delay - timedelta(seconds=1))
    assert await hooks.deliver() == 0  # not due yet
    clock.advance(timedelta(seconds=1))
    assert await hooks.deliver() == 1
    (waiting,) = await deliveries(hooks, endpoint_id)
    assert waiting.next_attempt_time == clock.now() + POLICY.delay_after(2)
    clock.advance(POLICY.delay_after(2))
    assert await hooks.deliver() == 1  # the third and last attempt
    clock.advance(POLICY.delay_max * 10)
    assert await hooks.deliver() == 0
    (failed,) = await deliveries(hooks, endpoint_id)
    assert (failed.state, failed.attempts, failed.next_attempt_time) == (
        DeliveryState.FAILED,
        POLICY.attempts_max,
        None,
    )
    assert [a.status_code for a in failed.attempt_log] == [500] * POLICY.attempts_max


async def test_an_attempt_whose_outcome_was_never_stored_is_taken_again_after_its_lease(
    hooks: WebhookApp, ledger: LedgerApp, sender: FakeSender, clock: FakeClock
) -> None:
    w = await wallet(ledger, "c1")
    endpoint_id, _ = await create(hooks, "e1", w)
    await grant(ledger, "g1", w)
    await hooks.dispatch()
    sender.script = [None, 200]
    with pytest.raises(RuntimeError):
        await hooks.deliver()  # the process "stops" with the attempt claimed
    assert await hooks.deliver() == 0  # leased: nobody takes it meanwhile
    clock.advance(LEASE)
    assert await hooks.deliver() == 1
    (delivered,) = await deliveries(hooks, endpoint_id)
    assert (delivered.state, delivered.attempts) == (DeliveryState.DELIVERED, 2)
    assert [a.status_code for a in delivered.attempt_log] == [None, 200]  # first: in flight


async def test_an_attempt_lost_with_none_left_fails_without_another_request(
    hooks: WebhookApp, ledger: LedgerApp, sender: FakeSender, clock: FakeClock
) -> None:
    w = await wallet(ledger, "c1")
    endpoint_id, _ = await create(hooks, "e1", w)
    await grant(ledger, "g1", w)
    await hooks.dispatch()
    sender.script = [500, 500, None]
    for _ in range(POLICY.attempts_max - 1):
        await hooks.deliver()
        clock.advance(POLICY.delay_max)
    with pytest.raises(RuntimeError):
        await hooks.deliver()  # the last attempt is lost
    clock.advance(LEASE)
    sender.script = [200]
    assert await hooks.deliver() == 0
    (failed,) = await deliveries(hooks, endpoint_id)
    assert (failed.state, failed.attempts) == (DeliveryState.FAILED, POLICY.attempts_max)
    assert len(sender.sent) == POLICY.attempts_max - 1


# -- retention ------------------------------------------------------------------------------


async def test_finished_deliveries_are_purged_after_their_retention_a_bounded_batch_at_a_time(
    hooks: WebhookApp, ledger: LedgerApp, sender: FakeSender, clock: FakeClock
) -> None:
    w = await wallet(ledger, "c1")
    delivered_to, _ = await create(hooks, "ok", w, url="https://ok.test")
    failing, _ = await create(hooks, "bad", w, url="https://bad.test")
    for i in range(3):
        await grant(ledger, f"g{i}", w)
    await hooks.dispatch()
    # Three deliveries to each endpoint: the first endpoint's are delivered, the other's fail
    # for good.
    sender.by_url = {"https://ok.test": 200, "https://bad.test": 500}
    for _ in range(POLICY.attempts_max):
        await hooks.deliver()
        clock.advance(POLICY.delay_max)
    ended = clock.now()
    assert {d.state for d in await deliveries(hooks, failing)} == {DeliveryState.FAILED}
    await grant(ledger, "pending", w)
    await hooks.dispatch()  # one pending delivery each: never purged

    clock.advance(timedelta(days=1))  # past DELIVERED's retention only
    assert await hooks.purge() == 2  # the batch bound
    assert await hooks.purge() == 1
    assert await hooks.purge() == 0
    assert [d.state for d in await deliveries(hooks, delivered_to)] == [DeliveryState.PENDING]
    assert len(await deliveries(hooks, failing)) == 4

    clock.set(ended + timedelta(days=3))  # past FAILED's retention too
    while await hooks.purge():
        pass
    assert [d.state for d in await deliveries(hooks, failing)] == [DeliveryState.PENDING]


# -- security: egress policy, secrets sealed at rest, rotation ------------------------------
# The egress policy at creation and again at every delivery (a name rebound to a private address
# is refused and never sent to), signing secrets stored only sealed, and a rotated secret signing
# beside the new one for the overlap window only.


async def rotate(
    hooks: WebhookApp, request_id: str, endpoint_id: str, overlap: timedelta
) -> tuple[bytes, str]:
    stored, secret = await hooks.rotate_secret(
        RotateSecret(idem(request_id, "RotateWebhookSecret", endpoint_id), endpoint_id, overlap),
        lambda e, until: f"{e.id}|{until}".encode(),
        None,
    )
    return stored, secret or ""


@pytest.mark.parametrize(
    ("url", "error", "reason"),
    [
        ("https://internal.test/hook", WebhookAddressRefused, "WEBHOOK_ADDRESS_REFUSED"),
        ("https://10.1.2.3/hook", WebhookAddressRefused, "WEBHOOK_ADDRESS_REFUSED"),
        ("https://metadata.google.internal/", WebhookAddressRefused, "WEBHOOK_ADDRESS_REFUSED"),
        ("http://public.test/hook", InsecureWebhookUrl, "INSECURE_WEBHOOK_URL"),
    ],
)
async def test_a_refused_url_is_an_invalid_argument_and_nothing_is_stored(
    hooks: WebhookApp,
    ledger: LedgerApp,
    resolver: FakeResolver,
    uow: FakeUnitOfWork,
    url: str,
    error: type[InvalidArgument],
    reason: str,
) -> None:
    resolver.names["internal.test"] = ["93.184.216.34", "192.168.0.10"]
    w = await wallet(ledger, "c1")
    with pytest.raises(error) as refused:
        await create(hooks, "e1", w, url=url)
    assert refused.value.reason == reason
    assert [v.field for v in refused.value.violations] == ["url"]
    assert uow.tables.webhooks.endpoints == {}


async def test_a_name_rebound_to_a_private_address_is_refused_at_delivery_and_not_sent(
    hooks: WebhookApp, ledger: LedgerApp, resolver: FakeResolver, sender: FakeSender
) -> None:
    w = await wallet(ledger, "c1")
    resolver.names["rebind.test"] = ["93.184.216.34"]
    endpoint_id, _ = await create(hooks, "e1", w, url="https://rebind.test/hook")
    await grant(ledger, "g1", w)
    await hooks.dispatch()
    assert await hooks.deliver() == 1
    assert sender.addresses == ["93.184.216.34"]  # the checked address, not a second lookup

    resolver.names["rebind.test"] = ["10.0.0.5"]
    await grant(ledger, "g2", w)
    await hooks.dispatch()
    assert await hooks.deliver() == 1
    assert sender.addresses == ["93.184.216.34"]  # nothing more was sent
    latest = (await hooks.list_deliveries(endpoint_id, None, None, 10, None))[0][1]
    assert (latest.last_status_code, latest.last_error) == (None, "refused by egress policy")


async def test_the_store_holds_the_secret_only_sealed(
    hooks: WebhookApp, ledger: LedgerApp, uow: FakeUnitOfWork
) -> None:
    w = await wallet(ledger, "c1")
    endpoint_id, secret = await create(hooks, "e1", w)
    row = uow.tables.webhooks.endpoints[endpoint_id]
    assert secret.encode() not in row.secret.ciphertext
    assert row.secret.key_id == SEALER.current_id
    assert SEALER.open(row.secret, endpoint_id) == secret


async def test_a_rotated_secret_signs_beside_the_new_one_for_the_overlap_only(
    hooks: WebhookApp, ledger: LedgerApp, sender: FakeSender, clock: FakeClock
) -> None:
    w = await wallet(ledger, "c1")
    endpoint_id, old = await create(hooks, "e1", w)
    stored, new = await rotate(hooks, "r1", endpoint_id, timedelta(hours=24))
    assert new.startswith("whsec_") and new != old
    assert stored == f"{endpoint_id}|{clock.now() + timedelta(hours=24)}".encode()

    await grant(ledger, "g1", w)
    await hooks.dispatch()
    await hooks.deliver()
    _, body, headers = sender.sent[-1]
    header = headers["Billing-Signature"]
    assert header.count("v1=") == 2
    assert rules.verify(new, header, body) and rules.verify(old, header, body)

    clock.advance(timedelta(hours=24))  # the window ends: only the new secret signs
    await grant(ledger, "g2", w)
    await hooks.dispatch()
    await hooks.deliver()
    _, body, headers = sender.sent[-1]
    header = headers["Billing-Signature"]
    assert header.count("v1=") == 1
    assert rules.verify(new, header, body) and not rules.verify(old, header, body)


async def test_a_rotation_without_overlap_stops_the_old_secret_at_once(
    hooks: WebhookApp, ledger: LedgerApp, sender: FakeSender
) -> None:
    w = await wallet(ledger, "c1")
    endpoint_id, old = await create(hooks, "e1", w)
    _, new = await rotate(hooks, "r1", endpoint_id, timedelta(0))
    await grant(ledger, "g1", w)
    await hooks.dispatch()
    await hooks.deliver()
    _, body, headers = sender.sent[-1]
    assert rules.verify(new, headers["Billing-Signature"], body)
    assert not rules.verify(old, headers["Billing-Signature"], body)


async def test_a_replayed_rotation_changes_nothing_and_shows_no_secret(
    hooks: WebhookApp, ledger: LedgerApp, uow: FakeUnitOfWork
) -> None:
    w = await wallet(ledger, "c1")
    endpoint_id, _ = await create(hooks, "e1", w)
    first, new = await rotate(hooks, "r1", endpoint_id, timedelta(hours=1))
    sealed = uow.tables.webhooks.endpoints[endpoint_id].secret
    again, shown = await rotate(hooks, "r1", endpoint_id, timedelta(hours=1))
    assert (again, shown) == (first, "")
    assert uow.tables.webhooks.endpoints[endpoint_id].secret == sealed
    assert SEALER.open(sealed, endpoint_id) == new


async def test_rotating_a_deleted_or_unknown_endpoint_is_not_found(
    hooks: WebhookApp, ledger: LedgerApp
) -> None:
    w = await wallet(ledger, "c1")
    endpoint_id, _ = await create(hooks, "e1", w)
    await hooks.delete_endpoint(
        cmd.Idem("d1", "DeleteWebhookEndpoint", b"d1"), endpoint_id, lambda e: b"", None
    )
    for target in (endpoint_id, "no-such-endpoint"):
        with pytest.raises(WebhookEndpointNotFound):
            await rotate(hooks, f"r-{target}", target, timedelta(hours=1))


async def test_a_secret_no_key_opens_is_recorded_and_nothing_is_sent(
    hooks: WebhookApp, ledger: LedgerApp, sender: FakeSender, uow: FakeUnitOfWork
) -> None:
    """The key that sealed it is gone: the attempt says so, unsigned requests are never sent,
    and the round goes on (the other endpoint's delivery is sent)."""
    w = await wallet(ledger, "c1")
    lost, _ = await create(hooks, "e1", w, url="https://lost.test/hook")
    fine, _ = await create(hooks, "e2", w, url="https://fine.test/hook")
    row = uow.tables.webhooks.endpoints[lost]
    row.secret = AesGcmSealer(bytes(32)).seal("whsec_x", lost)  # a key this ledger lacks
    await grant(ledger, "g1", w)
    await hooks.dispatch()
    assert await hooks.deliver() == 2
    assert [url for url, _, _ in sender.sent] == ["https://fine.test/hook"]
    (d,) = [d for _, d in await hooks.list_deliveries(lost, None, None, 10, None)]
    assert (d.last_status_code, d.last_error) == (None, "secret unavailable")
    assert fine
