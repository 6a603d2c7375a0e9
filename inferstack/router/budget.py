"""Per-tenant spend limits. The ledger is an ABC so a shared store can replace the in-process one
when several gateway replicas serve the same tenants."""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable

from inferstack.config.router import TenantBudget


def _utc_day() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")


class BudgetLedger(abc.ABC):
    @abc.abstractmethod
    def remaining_usd(self, tenant: str) -> float | None:
        """What the tenant may still spend today; None = unlimited."""

    @abc.abstractmethod
    def charge(self, tenant: str, usd: float) -> None: ...


class InMemoryBudgetLedger(BudgetLedger):
    """Daily (UTC) budgets held in this process; the day rolls over by itself."""

    def __init__(self, budgets: tuple[TenantBudget, ...], day: Callable[[], str] = _utc_day) -> None:
        self._limits = {b.tenant: b.usd_per_day for b in budgets}
        self._day = day
        self._spent: dict[tuple[str, str], float] = {}

    def remaining_usd(self, tenant: str) -> float | None:
        limit = self._limits.get(tenant)
        if limit is None:
            return None
        return limit - self._spent.get((tenant, self._day()), 0.0)

    def charge(self, tenant: str, usd: float) -> None:
        if tenant in self._limits and usd > 0:
            key = (tenant, self._day())
            self._spent[key] = self._spent.get(key, 0.0) + usd
