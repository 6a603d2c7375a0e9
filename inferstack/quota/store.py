"""The store interface, the types it trades in, and the one in-process implementation.

Rates are token buckets (capacity = the per-minute limit, refilled continuously), so a limit
holds over any 60 seconds, not only within clock minutes. Concurrency is a set of leases that
expire (`lease_s`), so a replica that dies holding slots cannot keep them forever. Spend is
counted in nano-USD per UTC day and month, reservations included until they are settled."""

from __future__ import annotations

import abc
import datetime as dt
import math
import time
from dataclasses import dataclass, field

from inferstack.config.quotas import Limits
from inferstack.errors import InferstackError

NANO = 1_000_000_000
WINDOW_MS = 60_000


class QuotaExceeded(InferstackError):
    """429 as OpenAI sends it: `rate_limit_exceeded` for a rate, `insufficient_quota` for spend."""

    status = 429

    def __init__(self, message: str, *, kind: str, retry_after_s: float | None) -> None:
        budget = kind.startswith("usd")
        headers = {} if retry_after_s is None else {"Retry-After": str(max(1, math.ceil(retry_after_s)))}
        super().__init__(
            message, code="insufficient_quota" if budget else "rate_limit_exceeded", headers=headers
        )
        self.type = "insufficient_quota" if budget else kind
        self.kind = kind


class QuotaStoreUnavailable(InferstackError):
    status = 503
    type = "service_unavailable"
    code = "quota_store_unavailable"

    def __init__(self) -> None:
        super().__init__("the quota store is unreachable; try again shortly", headers={"Retry-After": "1"})


@dataclass(frozen=True)
class Subject:
    """Who is counted: `tenant:<name>` or `key:<id>`, with its limits."""

    name: str
    limits: Limits

    def spend_limits_nano(self) -> tuple[int | None, int | None]:
        day, month = self.limits.usd_per_day, self.limits.usd_per_month
        return (None if day is None else round(day * NANO)), (None if month is None else round(month * NANO))


@dataclass(frozen=True)
class Periods:
    """The UTC day and month a reservation is counted in, and seconds until each ends."""

    day: str
    month: str
    day_left_s: float
    month_left_s: float

    @classmethod
    def now(cls, now: dt.datetime | None = None) -> Periods:
        now = now or dt.datetime.now(dt.UTC)
        tomorrow = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        next_month = (first + dt.timedelta(days=32)).replace(day=1)
        return cls(
            now.strftime("%Y%m%d"), now.strftime("%Y%m"),
            (tomorrow - now).total_seconds(), (next_month - now).total_seconds(),
        )  # fmt: skip


@dataclass
class Standing:
    """What is left of one subject's limits after an admission (None where it has no limit)."""

    requests: float | None = None
    requests_reset_ms: float | None = None
    tokens: float | None = None
    tokens_reset_ms: float | None = None
    usd_left: float | None = None


@dataclass
class Grant:
    """An admitted request's reservation: what to settle or release when it ends."""

    lease: str
    subjects: tuple[Subject, ...]
    tokens: int
    periods: Periods
    standing: list[Standing]
    store: QuotaStore
    usd_nano: int = 0  # reserved by `reserve_usd` (after routing)
    done: bool = False

    @property
    def budget_left_usd(self) -> float | None:
        left = [s.usd_left for s in self.standing if s.usd_left is not None]
        return min(left) if left else None

    @property
    def budgeted(self) -> tuple[Subject, ...]:
        return tuple(s for s in self.subjects if any(x is not None for x in s.spend_limits_nano()))


def refused(
    subject: Subject, kind: str, wait_ms: float | None, periods: Periods, tokens: int
) -> QuotaExceeded:
    """The 429 for the first limit that refused; the message names the limit, never the key."""
    who = subject.name.split(":", 1)[0]  # "tenant" or "key": the id itself stays out of errors
    limits = subject.limits
    if kind == "requests":
        text = f"requests per minute limit ({limits.requests_per_minute}) of this {who} reached"
    elif kind == "tokens" and wait_ms is None:
        text = (
            f"this request needs about {tokens} tokens (prompt + max_tokens), more than the {who}'s "
            f"tokens per minute limit ({limits.tokens_per_minute}); lower max_tokens"
        )
    elif kind == "tokens":
        text = f"tokens per minute limit ({limits.tokens_per_minute}) of this {who} reached"
    elif kind == "concurrent_requests":
        text = f"concurrent requests limit ({limits.concurrent_requests}) of this {who} reached"
    elif kind == "usd_per_day":
        text = f"daily budget (${limits.usd_per_day}) of this {who} is spent"
        wait_ms = periods.day_left_s * 1000
    else:
        text = f"monthly budget (${limits.usd_per_month}) of this {who} is spent"
        wait_ms = periods.month_left_s * 1000
    after = None if wait_ms is None else wait_ms / 1000
    suffix = "" if after is None else f"; try again in {format_reset(after)}"
    return QuotaExceeded(text + suffix, kind=kind, retry_after_s=after)


def format_reset(seconds: float) -> str:
    """OpenAI's reset format: `20ms`, `1s`, `6m0s`."""
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    minutes, rest = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


class QuotaStore(abc.ABC):
    name: str

    @abc.abstractmethod
    async def admit(self, subjects: tuple[Subject, ...], tokens: int, lease: str, lease_s: float) -> Grant:
        """Check every limit of every subject, then take a request, the tokens and a concurrency
        slot from all of them, or from none (raises QuotaExceeded naming the first refusal)."""

    @abc.abstractmethod
    async def reserve_usd(self, grant: Grant, usd_nano: int) -> None:
        """Add an estimated cost to the grant's spend, all subjects or none."""

    @abc.abstractmethod
    async def settle(self, grant: Grant, tokens: int, usd_nano: int) -> None:
        """Replace the reservation with what was used (0, 0 releases it) and free the slot."""

    async def aclose(self) -> None:
        return None


@dataclass
class _Bucket:
    level: float
    at_ms: float


def _refill(bucket: _Bucket | None, capacity: int, now_ms: float) -> float:
    if bucket is None:
        return float(capacity)
    return min(float(capacity), bucket.level + (now_ms - bucket.at_ms) * capacity / WINDOW_MS)


@dataclass
class LocalQuotaStore(QuotaStore):
    """One process's counts. Exact for one gateway; with several, each counts its own."""

    name: str = "local"
    buckets: dict[tuple[str, str], _Bucket] = field(default_factory=dict)
    leases: dict[str, dict[str, float]] = field(default_factory=dict)
    spent: dict[tuple[str, str], int] = field(default_factory=dict)

    def _check(self, subject: Subject, tokens: int, now_ms: float, periods: Periods) -> None:
        limits = subject.limits
        for kind, capacity, cost in (
            ("requests", limits.requests_per_minute, 1),
            ("tokens", limits.tokens_per_minute, tokens),
        ):
            if capacity is None:
                continue
            if cost > capacity:
                raise refused(subject, kind, None, periods, tokens)
            level = _refill(self.buckets.get((subject.name, kind)), capacity, now_ms)
            if level < cost:
                raise refused(subject, kind, (cost - level) * WINDOW_MS / capacity, periods, tokens)
        if limits.concurrent_requests is not None:
            held = self.leases.setdefault(subject.name, {})
            for lease in [k for k, until in held.items() if until <= now_ms]:
                del held[lease]
            if len(held) >= limits.concurrent_requests:
                raise refused(subject, "concurrent_requests", 1000, periods, tokens)
        day, month = subject.spend_limits_nano()
        for kind, limit, period in (
            ("usd_per_day", day, periods.day),
            ("usd_per_month", month, periods.month),
        ):
            if limit is not None and self.spent.get((subject.name, period), 0) >= limit:
                raise refused(subject, kind, None, periods, tokens)

    async def admit(self, subjects: tuple[Subject, ...], tokens: int, lease: str, lease_s: float) -> Grant:
        now_ms, periods = time.time() * 1000, Periods.now()
        for subject in subjects:
            self._check(subject, tokens, now_ms, periods)
        standing = []
        for subject in subjects:
            limits, state = subject.limits, Standing()
            for kind, capacity, cost in (
                ("requests", limits.requests_per_minute, 1),
                ("tokens", limits.tokens_per_minute, tokens),
            ):
                if capacity is None:
                    continue
                level = _refill(self.buckets.get((subject.name, kind)), capacity, now_ms) - cost
                self.buckets[(subject.name, kind)] = _Bucket(level, now_ms)
                reset = (capacity - level) * WINDOW_MS / capacity
                if kind == "requests":
                    state.requests, state.requests_reset_ms = level, reset
                else:
                    state.tokens, state.tokens_reset_ms = level, reset
            if limits.concurrent_requests is not None:
                self.leases[subject.name][lease] = now_ms + lease_s * 1000
            state.usd_left = _usd_left(subject, self.spent, periods)
            standing.append(state)
        return Grant(lease, subjects, tokens, periods, standing, self)

    async def reserve_usd(self, grant: Grant, usd_nano: int) -> None:
        periods = grant.periods
        for subject in grant.budgeted:
            day, month = subject.spend_limits_nano()
            for kind, limit, period in (
                ("usd_per_day", day, periods.day), ("usd_per_month", month, periods.month),
            ):  # fmt: skip
                if limit is not None and self.spent.get((subject.name, period), 0) + usd_nano > limit:
                    raise refused(subject, kind, None, periods, grant.tokens)
        for subject in grant.budgeted:
            for period in (periods.day, periods.month):
                self.spent[(subject.name, period)] = self.spent.get((subject.name, period), 0) + usd_nano
        grant.usd_nano += usd_nano

    async def settle(self, grant: Grant, tokens: int, usd_nano: int) -> None:
        now_ms = time.time() * 1000
        for subject in grant.subjects:
            capacity = subject.limits.tokens_per_minute
            bucket = self.buckets.get((subject.name, "tokens"))
            if capacity is not None and bucket is not None:
                level = _refill(bucket, capacity, now_ms) - (tokens - grant.tokens)
                self.buckets[(subject.name, "tokens")] = _Bucket(min(float(capacity), level), now_ms)
            self.leases.get(subject.name, {}).pop(grant.lease, None)
        delta = usd_nano - grant.usd_nano
        for subject in grant.budgeted:
            for period in (grant.periods.day, grant.periods.month):
                self.spent[(subject.name, period)] = self.spent.get((subject.name, period), 0) + delta


def _usd_left(subject: Subject, spent: dict[tuple[str, str], int], periods: Periods) -> float | None:
    day, month = subject.spend_limits_nano()
    left = [
        (limit - spent.get((subject.name, period), 0)) / NANO
        for limit, period in ((day, periods.day), (month, periods.month))
        if limit is not None
    ]
    return min(left) if left else None
