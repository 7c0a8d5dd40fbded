"""The PriceSheet: which price applies to usage on a given day.

Each price has a unit, an amount, a currency and an ``effectiveDate``; usage on day D is priced at
the newest price of its unit whose effective date is on or before D (UTC). One PriceSheet uses one
currency: mixing them is an error that names the file::

    >>> from datetime import date
    >>> from wasmops.finops.prices import load_prices
    >>> book = load_prices("deployments/pricing.yaml")
    >>> book.price_for("fuel-million", date(2026, 3, 1))
    (Decimal('0.0004'), 'USD')
    >>> book.price_for("fuel-million", date(2025, 3, 1))
    Traceback (most recent call last):
    wasmops.errors.SpecError: deployments/pricing.yaml: spec.prices: no fuel-million price in effect on 2025-03-01 (the first takes effect on 2026-01-01)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np

from ..errors import SpecError
from wasmops.gitops.manifest import PriceSheet, load_document
from .money import PLACES, price_units

UNITS = ("fuel-million", "memory-gib-hour", "invocations-million", "storage-gb-month")


@dataclass(frozen=True)
class Scheduled:
    """One price of one unit, in force from ``effective`` until the next one."""

    unit: str
    effective: date
    amount: Decimal
    units: int          # amount × 10**PLACES

    @property
    def sku_price_id(self) -> str:
        return f"{self.unit}@{self.effective.isoformat()}"


@dataclass(frozen=True)
class PriceBook:
    """A validated PriceSheet with fast lookups. ``source`` names the file for error messages."""

    sheet: PriceSheet
    source: str
    currency: str
    schedules: dict[str, list[Scheduled]] = field(default_factory=dict)

    @classmethod
    def from_sheet(cls, sheet: PriceSheet, source: str | None = None) -> "PriceBook":
        where = source or "pricing.yaml"      # where the GitOps repo keeps it (its metadata.name is no file)
        currencies = sorted({p.currency for p in sheet.spec.prices})
        if len(currencies) != 1:
            raise SpecError(f"spec.prices: mixed currencies {', '.join(currencies)}; a PriceSheet must use "
                            "one currency (convert the prices first)", where=where)
        schedules: dict[str, list[Scheduled]] = {}
        for i, p in enumerate(sheet.spec.prices):
            try:
                units = price_units(p.amount)
            except ValueError as exc:
                raise SpecError(f"spec.prices.{i}.amount: {exc} (at most {PLACES})", where=where) from None
            schedules.setdefault(p.unit, []).append(Scheduled(p.unit, p.effective_date, Decimal(p.amount), units))
        for unit, items in schedules.items():
            items.sort(key=lambda s: s.effective)
            days = [s.effective for s in items]
            dup = sorted({d for d in days if days.count(d) > 1})
            if dup:
                raise SpecError(f"spec.prices: two {unit} prices take effect on {dup[0].isoformat()}", where=where)
        return cls(sheet=sheet, source=where, currency=currencies[0], schedules=schedules)

    # -- lookups --------------------------------------------------------------------------------
    def entry_for(self, unit: str, at: date | datetime) -> Scheduled:
        if unit not in UNITS:
            raise ValueError(f"unknown price unit {unit!r}; expected one of {', '.join(UNITS)}")
        day = at.date() if isinstance(at, datetime) else at
        items = self.schedules.get(unit)
        if not items:
            raise SpecError(f"spec.prices: no price for unit {unit}", where=self.source,
                            hint=f"add a {unit} price to the PriceSheet")
        found = None
        for s in items:
            if s.effective <= day:
                found = s
            else:
                break
        if found is None:
            raise SpecError(f"spec.prices: no {unit} price in effect on {day.isoformat()} (the first takes "
                            f"effect on {items[0].effective.isoformat()})", where=self.source)
        return found

    def price_for(self, unit: str, at: date | datetime) -> tuple[Decimal, str]:
        """The price of ``unit`` for usage on ``at``: (amount, currency)."""
        return self.entry_for(unit, at).amount, self.currency

    def lookup(self, unit: str, days: np.ndarray) -> np.ndarray:
        """Index into ``schedules[unit]`` for each day (``datetime64[D]`` array). Raises like price_for."""
        items = self.schedules.get(unit)
        if not items:
            if len(days) == 0:
                return np.zeros(0, dtype=np.int64)
            raise SpecError(f"spec.prices: no price for unit {unit}", where=self.source,
                            hint=f"add a {unit} price to the PriceSheet")
        starts = np.array([np.datetime64(s.effective, "D") for s in items])
        idx = np.searchsorted(starts, days.astype("datetime64[D]"), side="right") - 1
        if len(idx) and idx.min() < 0:
            first = days[idx < 0].min()
            raise SpecError(f"spec.prices: no {unit} price in effect on {str(first)[:10]} (the first takes "
                            f"effect on {items[0].effective.isoformat()})", where=self.source)
        return idx

    def units_at(self, unit: str, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(price units as int64, index into the schedule) for each day."""
        idx = self.lookup(unit, days)
        table = np.array([s.units for s in self.schedules.get(unit, [])] or [0], dtype=np.int64)
        return table[idx], idx


def load_prices(path: str | Path) -> PriceBook:
    """Load and validate a PriceSheet file."""
    return PriceBook.from_sheet(load_document(path, PriceSheet), source=str(path))


def as_pricebook(prices) -> PriceBook:
    """Accept a PriceBook, a PriceSheet, a path to one, or a DesiredState (its ``pricing``)."""
    if isinstance(prices, PriceBook):
        return prices
    if isinstance(prices, PriceSheet):
        return PriceBook.from_sheet(prices)
    if isinstance(prices, (str, Path)):
        return load_prices(prices)
    pricing = getattr(prices, "pricing", None)
    if isinstance(pricing, PriceSheet):
        return PriceBook.from_sheet(pricing, source="pricing.yaml")
    if pricing is None and hasattr(prices, "deployments"):
        raise SpecError("the desired state has no PriceSheet", where="pricing.yaml", hint="add pricing.yaml")
    raise TypeError(f"expected a PriceBook, PriceSheet, path or DesiredState, not {type(prices).__name__}")


def price_for(prices, unit: str, at: date | datetime) -> tuple[Decimal, str]:
    """Module-level form of :meth:`PriceBook.price_for`."""
    return as_pricebook(prices).price_for(unit, at)
