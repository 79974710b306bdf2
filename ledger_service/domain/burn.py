"""Burn rate, depletion forecast and consumption signals (SPEC "Insight"; ledger README
"Insight: burn, forecast and signals"). Pure functions: time is an argument.

- **Daily series.** Consumption (debits and captures minus refunds) in trailing 24-hour windows
  ending at `now`: day 0 is (now - 1 day, now], day 1 the one before, and so on.
- **Burn.** The exponentially weighted mean of the last `WINDOW_DAYS` days, day k weighing
  `0.5 ** (k / HALF_LIFE_DAYS)` (normalised), so last week counts twice as much as the week
  before. Its range is the lowest and the highest of that EWMA, the 7-day mean and the 28-day
  mean: "the last week continues" and "the last four weeks continue" are both plausible, the
  EWMA sits between them, and a steady burn gives a range of width zero.
- **Forecast.** A day-by-day walk from `now` (`walk`) burning the daily burn in burn-down order,
  writing off what expires unused at the end of its day, making the top-ups the wallet's rule
  would make (within its caps) and running up overage under `ALLOW_OVERAGE`.
- **Signals.** `evaluate` decides, from the recent burn, the baseline and the forecast, which
  episodes open (an event each) and which close (re-armed): once per episode.

Estimates are not money: the EWMA's weights are irrational, so they are computed in `ESTIMATE`
(Decimal, 60 digits, never float) and rounded to 18 fractional digits, the finest amount the
ledger accepts. Amounts taken from the journal stay exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, DivisionByZero, InvalidOperation, Overflow
from decimal import localcontext as decimal_context
from enum import StrEnum

from billing_common.money import exact
from ledger_service.domain.burndown import BurnKey, burn_key
from ledger_service.domain.ledger import available, reserved, settle_overage
from ledger_service.domain.model import (
    ZERO,
    EventType,
    Grant,
    OveragePolicy,
    TopUpRule,
    WalletState,
)

DAY = timedelta(days=1)
HALF_LIFE_DAYS = 7
WINDOW_DAYS = 28
SHORT_WINDOW_DAYS = 7
# A wallet younger than this has no baseline yet: it raises no signal.
WARM_UP_DAYS = 14
# Top-ups the walk makes per day at most (a tiny top-up amount against a large burn): the
# walk's own bound (the horizon is bounded by its callers, ledger_service/limits.py).
TOP_UPS_PER_DAY_MAX = 100

ESTIMATE = Context(
    prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow]
)
_QUANTUM = Decimal("1e-18")


def _round(value: Decimal) -> Decimal:
    with decimal_context(ESTIMATE):
        return value.quantize(_QUANTUM)


def _weights(days: int) -> list[Decimal]:
    with decimal_context(ESTIMATE):
        half = Decimal("0.5")
        return [half ** (Decimal(k) / HALF_LIFE_DAYS) for k in range(days)]


@dataclass(frozen=True, slots=True)
class Burn:
    """Daily burn: the EWMA and its range (low <= daily <= high)."""

    daily: Decimal
    low: Decimal
    high: Decimal


def series(by_day: Mapping[int, Decimal], days: int, skip: int = 0) -> list[Decimal]:
    """Days skip .. skip + days - 1 (0: the last 24 hours), newest first; missing days are 0.
    A day with more refunds than usage counts as 0: the burn is never negative."""
    return [max(by_day.get(skip + k, ZERO), ZERO) for k in range(days)]


def ewma(days: Sequence[Decimal]) -> Decimal:
    """The weighted mean of `days` (newest first), day k weighing 0.5 ** (k / 7)."""
    if not days:
        return ZERO
    weights = _weights(len(days))
    with decimal_context(ESTIMATE):
        total = sum((w * x for w, x in zip(weights, days, strict=True)), ZERO)
        return _round(total / sum(weights, ZERO))


def mean(days: Sequence[Decimal]) -> Decimal:
    if not days:
        return ZERO
    with decimal_context(ESTIMATE):
        return _round(sum(days, ZERO) / len(days))


def age_days(create_time: datetime, now: datetime) -> int:
    """How many trailing days (`series`) the wallet has lived in, in part or whole: days
    before it existed are not days without usage, so they take no part in its burn."""
    return max(-((create_time - now) // DAY), 0)


def burn(by_day: Mapping[int, Decimal], skip: int = 0, known_days: int = WINDOW_DAYS) -> Burn:
    """The burn over the `WINDOW_DAYS` days from day `skip` on (0: ending now), of which only
    the first `known_days - skip` count (the wallet's own: `age_days`)."""
    days = series(by_day, max(min(WINDOW_DAYS, known_days - skip), 0), skip)
    central = ewma(days)
    candidates = (central, mean(days[:SHORT_WINDOW_DAYS]), mean(days))
    return Burn(central, min(candidates), max(candidates))


# -- the forecast ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expiry:
    grant_id: str
    expire_time: datetime
    amount: Decimal


@dataclass(frozen=True, slots=True)
class ForecastTopUp:
    time: datetime
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Walk:
    """One forecast path at one daily burn."""

    depletion: datetime | None
    expiries: list[Expiry]
    top_ups: list[ForecastTopUp]
    overage: Decimal


@dataclass(frozen=True, slots=True)
class Forecast:
    as_of: datetime
    horizon_end: datetime
    available: Decimal
    burn: Burn
    central: Walk
    earliest: datetime | None  # depletion at the high burn
    latest: datetime | None  # depletion at the low burn


@dataclass
class _Credit:
    """A grant on the forecast path: what is free of it (remaining minus holds)."""

    key: BurnKey
    id: str
    left: Decimal
    effective: datetime
    expire: datetime | None

    def usable(self, at: datetime) -> bool:
        return self.left > 0 and self.effective <= at and (self.expire is None or at < self.expire)


@dataclass
class _Caps:
    rule: TopUpRule
    day: Decimal
    month: Decimal
    day_of: datetime
    month_of: tuple[int, int]
    armed: bool
    made: int = 0  # top-ups in the walk's current day (TOP_UPS_PER_DAY_MAX)

    def room(self, at: datetime) -> Decimal | None:
        """What the caps still let the rule top up at `at` (None: no cap)."""
        if at.date() != self.day_of.date():
            self.day, self.day_of = ZERO, at
        if (at.year, at.month) != self.month_of:
            self.month, self.month_of = ZERO, (at.year, at.month)
        rooms = [
            cap - used
            for cap, used in ((self.rule.daily_cap, self.day), (self.rule.monthly_cap, self.month))
            if cap is not None
        ]
        return min(rooms) if rooms else None


def _credits(state: WalletState, now: datetime) -> list[_Credit]:
    taken = reserved(state, now)
    out = [
        _Credit(
            burn_key(g), g.id, g.remaining - taken.get(g.id, ZERO), g.effective_time, g.expire_time
        )
        for g in state.grants.values()
        if g.void_time is None and (g.expire_time is None or g.expire_time > now)
    ]
    return sorted((c for c in out if c.left > 0), key=lambda c: c.key)


def _at(start: datetime, done: Decimal, per_day: Decimal) -> datetime:
    """The instant `done` of a day's burn `per_day` is used up, the day starting at `start`."""
    with decimal_context(ESTIMATE):
        seconds = int(done * 86400 / per_day)
    return start + timedelta(seconds=seconds)


def _top_up(
    caps: _Caps | None,
    credits: list[_Credit],
    at: datetime,
    now_avail: Decimal,
    usable_from: datetime,
    *,
    whole: bool = False,
) -> Decimal:
    """Make one top-up of the rule at `at` if it can; the amount granted (0: none). Its credits
    are usable from `usable_from`: the walk's day the top-up is made in (the walk burns a day's
    usage from what is usable at the day's start). `whole`: a DENY debit's shortfall, which the
    ledger covers with the rule's whole amount or not at all (`automation.cover_shortfall`);
    the threshold's top-up is cut to what the caps still allow (`automation.automate`)."""
    if caps is None or caps.made >= TOP_UPS_PER_DAY_MAX:
        return ZERO
    rule = caps.rule
    if not rule.enabled or (rule.expire_time is not None and at >= rule.expire_time):
        return ZERO
    amount = rule.amount if rule.amount is not None else (rule.target or ZERO) - now_avail
    room = caps.room(at)
    if room is not None:
        if whole and amount > room:
            return ZERO
        amount = min(amount, room)
    if amount <= 0:
        return ZERO
    caps.day += amount
    caps.month += amount
    caps.made += 1
    expire = rule.expire_time
    if rule.expire_after is not None:
        after = at + rule.expire_after
        expire = after if expire is None else min(expire, after)
    grant = Grant(
        id=f"forecast-top-up-{at.isoformat()}-{caps.made}",
        wallet_id=rule.wallet_id,
        kind=rule.kind,
        amount=amount,
        remaining=amount,
        priority=rule.priority,
        effective_time=at,
        expire_time=expire,
        create_time=at,
    )
    # Credits used up leave the path (nothing reads them again), so a walk of many top-ups a
    # day stays linear in its horizon.
    credits[:] = [c for c in credits if c.left > 0]
    credits.append(_Credit(burn_key(grant), grant.id, amount, usable_from, expire))
    credits.sort(key=lambda c: c.key)
    return amount


@dataclass
class _Path:
    """The walk's mutable state along one forecast path."""

    credits: list[_Credit]
    overage: Decimal
    caps: _Caps | None
    allow_overage: bool
    daily: Decimal
    ran_up: Decimal = ZERO  # overage the burn runs up
    depletion: datetime | None = None
    expiries: list[Expiry] = field(default_factory=list)
    top_ups: list[ForecastTopUp] = field(default_factory=list)

    def settle(self, start: datetime) -> None:
        """Credits usable at `start` settle outstanding overage first."""
        for c in self.credits:
            if self.overage > 0 and c.usable(start):
                pay = min(c.left, self.overage)
                c.left -= pay
                self.overage -= pay

    def _usable(self, at: datetime) -> Decimal:
        return sum((c.left for c in self.credits if c.usable(at)), ZERO)

    def _take(self, at: datetime, amount: Decimal) -> Decimal:
        """Burn up to `amount` from the credits usable at `at`, in burn-down order."""
        taken = ZERO
        for c in self.credits:
            if taken < amount and c.usable(at):
                take = min(c.left, amount - taken)
                c.left -= take
                taken += take
        return taken

    def _threshold_top_up(self, start: datetime, need: Decimal, done: Decimal) -> Decimal | None:
        """If the day's burn takes the balance below the rule's threshold, burn down to it and
        make the rule's top-up there (as the ledger does after the write that crosses it): what
        was burnt, or None when the rule does not act. It stays armed while its top-ups lift
        the balance to the threshold; one the caps stop (or a rule disarmed in the wallet's
        state) acts again once the balance is above the threshold (as the ledger's next write
        re-arms it) or the day has ended."""
        caps = self.caps
        avail = self._usable(start)
        if caps is None or caps.rule.threshold <= 0:
            return None  # the available balance never goes below 0 (overage is apart from it)
        if avail > caps.rule.threshold:
            caps.armed = True  # as the ledger's next write re-arms it
        if not caps.armed or avail - need >= caps.rule.threshold:
            return None
        burnt = self._take(start, max(avail - caps.rule.threshold, ZERO))
        at = _at(start, done + burnt, self.daily)
        got = _top_up(caps, self.credits, at, avail - burnt, start)
        if got > 0:
            self.top_ups.append(ForecastTopUp(at, got))
        caps.armed = got > 0 and avail - burnt + got >= caps.rule.threshold
        return burnt

    def _cover(self, start: datetime, at: datetime) -> bool:
        """A DENY debit's shortfall at `at` buys (a block at a time: usage comes in small
        debits); an ALLOW_OVERAGE debit's becomes overage, and only the threshold buys."""
        if self.allow_overage:
            return False
        got = _top_up(self.caps, self.credits, at, ZERO, start, whole=True)
        if got > 0:
            self.top_ups.append(ForecastTopUp(at, got))
        return got > 0

    def burn_day(self, start: datetime) -> Decimal:
        """Burn one day's usage; what is usable after it."""
        need, done = self.daily, ZERO
        if self.caps is not None:
            self.caps.made = 0
        # Each round makes a top-up (at most TOP_UPS_PER_DAY_MAX), disarms the rule (at most
        # once per top-up: it re-arms only above the threshold, which takes a top-up) or ends
        # the day's burn: the bound is never what stops it.
        for _ in range(2 * TOP_UPS_PER_DAY_MAX + 2):
            if need <= 0:
                break
            burnt = self._threshold_top_up(start, need, done)
            if burnt is not None:
                need, done = need - burnt, done + burnt
                continue  # the balance after the top-up may cross the threshold again
            taken = self._take(start, need)
            need, done = need - taken, done + taken
            if need <= 0:
                break
            at = _at(start, done, self.daily)
            if self._cover(start, at):
                continue
            self.depletion = self.depletion or at
            if self.allow_overage:
                self.overage += need
                self.ran_up += need
            need = ZERO
        left = self._usable(start)
        if self.caps is not None and left >= self.caps.rule.threshold:
            self.caps.armed = True
        if self.depletion is None and self.daily > 0 and left <= 0:  # used up exactly
            self.depletion = _at(start, done, self.daily)
        return left

    def end_day(self, start: datetime, end: datetime) -> None:
        """The day's write-offs: credits whose expire_time falls within it."""
        for c in self.credits:
            if c.expire is not None and start < c.expire <= end and c.left > 0:
                if self.depletion is None or c.expire <= self.depletion:
                    self.expiries.append(Expiry(c.id, c.expire, c.left))
                c.left = ZERO


@exact
def walk(state: WalletState, now: datetime, daily: Decimal, horizon_days: int) -> Walk:
    """Walk `horizon_days` days from `now` at `daily` burn (see the module's docstring).

    Per day: credits effective by its start settle overage first; the day's burn takes credits
    usable at its start in burn-down order, spread evenly over the day; where it takes the
    balance below the top-up rule's threshold the rule tops up (within its caps); where the
    credits run out the rule tops up what is needed (as a DENY debit buys what it needs), else
    the balance is depleted at that instant and the rest is overage (ALLOW_OVERAGE) or refused
    (DENY); credits whose expire_time falls within the day are written off at its end with what
    they still hold.
    """
    settled = settle_overage(state, now).state
    rule = settled.automation.topup_rule
    caps = None
    if rule is not None:
        auto = settled.automation
        caps = _Caps(
            rule, auto.topped_up_day, auto.topped_up_month, now, (now.year, now.month), rule.armed
        )
    path = _Path(
        _credits(settled, now),
        settled.overage,
        caps,
        settled.wallet.overage_policy is OveragePolicy.ALLOW_OVERAGE,
        daily,
    )
    for d in range(horizon_days):
        start = now + d * DAY
        path.settle(start)
        path.burn_day(start)
        path.end_day(start, start + DAY)
    return Walk(path.depletion, path.expiries, path.top_ups, path.ran_up)


def forecast(
    state: WalletState, now: datetime, by_day: Mapping[int, Decimal], horizon_days: int
) -> Forecast:
    """The forecast from the wallet's state and its consumption per day (`series`)."""
    rate = burn(by_day, known_days=age_days(state.wallet.create_time, now))
    central = walk(state, now, rate.daily, horizon_days)
    high = walk(state, now, rate.high, horizon_days).depletion if rate.high > 0 else None
    low = walk(state, now, rate.low, horizon_days).depletion if rate.low > 0 else None
    return Forecast(
        as_of=now,
        horizon_end=now + horizon_days * DAY,
        available=available(settle_overage(state, now).state, now),
        burn=rate,
        central=central if rate.daily > 0 else Walk(None, [], [], ZERO),
        earliest=high,
        latest=low,
    )


# -- signals ---------------------------------------------------------------------------------


class Signal(StrEnum):
    BURN_SPIKE = "BURN_SPIKE"
    SLOWDOWN = "SLOWDOWN"
    DEPLETION_EXPECTED = "DEPLETION_EXPECTED"

    @property
    def event_type(self) -> EventType:
        return EventType(self.value)


@dataclass(frozen=True, slots=True)
class SignalPolicy:
    """When a wallet's signals fire (README "Insight"): spike above `spike_multiple` x baseline,
    slowdown below `slowdown_fraction` x baseline, depletion expected within `depletion_days`."""

    wallet_id: str
    spike_multiple: Decimal = Decimal(3)
    slowdown_fraction: Decimal = Decimal("0.25")
    depletion_days: int = 7
    disabled: bool = False
    warm_up_days: int = WARM_UP_DAYS


@dataclass(frozen=True, slots=True)
class Reading:
    """What the signals look at, at `now`: the last day's burn, the baseline (the EWMA of the
    28 days before it), the central forecast's depletion, and whether the wallet cannot burn at
    all (`out_of_credits`: a DENY wallet with nothing available refuses every debit)."""

    now: datetime
    wallet_create_time: datetime
    recent: Decimal
    baseline: Decimal
    depletion: datetime | None
    out_of_credits: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    open: list[Signal] = field(default_factory=list)  # an event each
    close: list[Signal] = field(default_factory=list)  # re-armed


def conditions(policy: SignalPolicy, reading: Reading) -> set[Signal]:
    """The signals whose condition holds. None before the wallet is the policy's
    `warm_up_days` old (WARM_UP_DAYS by default: no baseline yet), nor when it is disabled. A
    spike needs usage above the multiple of the baseline (a quiet wallet that starts using
    credits is a spike: adoption); a slowdown needs a baseline above 0 (a wallet that never
    burnt is not slowing down) and a wallet that can burn (a DENY wallet out of credits stopped
    at its limit, not by churn: its DEPLETED alert says so)."""
    if policy.disabled or reading.now - reading.wallet_create_time < policy.warm_up_days * DAY:
        return set()
    held: set[Signal] = set()
    with decimal_context(ESTIMATE):
        if reading.recent > policy.spike_multiple * reading.baseline:
            held.add(Signal.BURN_SPIKE)
        if (
            reading.baseline > 0
            and not reading.out_of_credits
            and reading.recent < policy.slowdown_fraction * reading.baseline
        ):
            held.add(Signal.SLOWDOWN)
    if (
        reading.depletion is not None
        and reading.depletion <= reading.now + policy.depletion_days * DAY
    ):
        held.add(Signal.DEPLETION_EXPECTED)
    return held


def evaluate(policy: SignalPolicy, reading: Reading, open_now: frozenset[Signal]) -> Decision:
    """Once per episode: a signal whose condition holds and is not open opens (an event); an
    open one whose condition no longer holds closes (re-armed for the next episode)."""
    held = conditions(policy, reading)
    return Decision(
        open=sorted(held - open_now),
        close=sorted(open_now - held),
    )
