"""A month's bill, computed from the daily usage records (usage.py) and the price sheets.

Per item and billable day: the protected-instance fee of that day's band / days in the month,
and that day's stored GB x the storage rate of the vault's redundancy / days in the month.
Every day is priced by the sheet in force on it. Charges are rounded to cents per line; the
totals add up the rounded lines, so the table always sums.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils import timezone

from backup.tenancy.models import Subscription

from ..models import DailyUsage, PriceSheet
from ..months import Month
from .pricing import Band, SheetBook, band_label, cents, monthly_fee, storage_rate, to_gb

GB_MONTH_PLACES = Decimal("0.001")


@dataclass
class BillLine:
    vault_ref: int
    item_ref: int
    vault_name: str = ""
    vm_name: str = ""
    cloud_service_name: str = ""
    item_status: str = ""
    redundancy: str = ""
    protected_instance_bytes: int = 0
    band: str = ""
    band_changed: bool = False
    recorded_days: int = 0
    billable_days: int = 0
    logical_bytes: int = 0
    stored_bytes: int = 0
    instance_charge: Decimal = Decimal("0.00")
    logical_gb_month: Decimal = Decimal("0")
    storage_gb_month: Decimal = Decimal("0")
    storage_charge: Decimal = Decimal("0.00")

    @property
    def total(self) -> Decimal:
        return self.instance_charge + self.storage_charge

    @property
    def protected_instance_gb(self) -> Decimal:
        return to_gb(self.protected_instance_bytes)


@dataclass
class VaultGroup:
    vault_ref: int
    vault_name: str
    redundancy: str
    lines: list[BillLine] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal("0.00"))


@dataclass
class Bill:
    subscription: Subscription
    month: Month
    currency: str
    vaults: list[VaultGroup]
    sheets: list[PriceSheet]

    @property
    def lines(self) -> list[BillLine]:
        return [line for group in self.vaults for line in group.lines]

    @property
    def instance_total(self) -> Decimal:
        return sum((line.instance_charge for line in self.lines), Decimal("0.00"))

    @property
    def storage_total(self) -> Decimal:
        return sum((line.storage_charge for line in self.lines), Decimal("0.00"))

    @property
    def storage_gb_month_total(self) -> Decimal:
        return sum((line.storage_gb_month for line in self.lines), Decimal("0"))

    @property
    def logical_gb_month_total(self) -> Decimal:
        return sum((line.logical_gb_month for line in self.lines), Decimal("0"))

    @property
    def total(self) -> Decimal:
        return self.instance_total + self.storage_total


def _add_day(line: BillLine, row: DailyUsage, book: SheetBook, days: int, sums: dict) -> None:
    line.vault_name, line.vm_name, line.cloud_service_name = row.vault_name, row.vm_name, row.cloud_service_name
    line.item_status, line.redundancy = row.item_status, row.redundancy
    line.recorded_days += 1
    if not row.billable:
        return
    sheet = book.on(row.day)
    band = Band(row.band, row.large_units)
    label = band_label(band, sheet)
    line.band_changed = line.band_changed or bool(line.band and line.band != label)
    line.band, line.protected_instance_bytes = label, row.protected_instance_bytes
    line.logical_bytes, line.stored_bytes = row.logical_bytes, row.stored_bytes
    line.billable_days += 1
    sums["instance"] += monthly_fee(band, sheet) / days
    sums["stored_gb"] += to_gb(row.stored_bytes)
    sums["logical_gb"] += to_gb(row.logical_bytes)
    sums["storage"] += to_gb(row.stored_bytes) * storage_rate(row.redundancy, sheet) / days


def bill_lines(rows, month: Month, book: SheetBook) -> list[BillLine]:
    """One line per item over the month's rows (ordered by day), charges prorated by day."""
    lines: dict[tuple[int, int], BillLine] = {}
    sums: dict[tuple[int, int], dict] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        key = (row.vault_ref, row.item_ref)
        line = lines.setdefault(key, BillLine(vault_ref=row.vault_ref, item_ref=row.item_ref))
        _add_day(line, row, book, month.days, sums[key])
    for key, line in lines.items():
        total = sums[key]
        line.instance_charge = cents(total["instance"])
        line.storage_charge = cents(total["storage"])
        line.storage_gb_month = (total["stored_gb"] / month.days).quantize(GB_MONTH_PLACES)
        line.logical_gb_month = (total["logical_gb"] / month.days).quantize(GB_MONTH_PLACES)
    return sorted(lines.values(), key=lambda line: (line.vault_name.lower(), line.vm_name.lower(), line.item_ref))


def _sheets_for(month: Month, book: SheetBook) -> list[PriceSheet]:
    in_force = {book.on(day).pk: book.on(day) for day in month.day_list() if _has_sheet(book, day)}
    return sorted(in_force.values(), key=lambda s: s.effective_from)


def _has_sheet(book: SheetBook, day: date) -> bool:
    return any(sheet.effective_from <= day for sheet in book.sheets)


def compute_bill(subscription: Subscription, month: Month, book: SheetBook | None = None) -> Bill:
    book = book or SheetBook()
    rows = DailyUsage.objects.filter(subscription=subscription).in_month(month).order_by("day", "pk")
    groups: dict[int, VaultGroup] = {}
    for line in bill_lines(rows, month, book):
        group = groups.setdefault(line.vault_ref, VaultGroup(line.vault_ref, line.vault_name, line.redundancy))
        group.lines.append(line)
    sheets = _sheets_for(month, book)
    currency = sheets[-1].currency if sheets else (book.sheets[0].currency if book.sheets else "USD")
    return Bill(subscription, month, currency, list(groups.values()), sheets)


@dataclass
class ChartBar:
    month: Month
    total: Decimal
    x: int = 0
    y: int = 0
    height: int = 0
    selected: bool = False


def month_history(subscription: Subscription, month: Month, count: int = 6) -> list[ChartBar]:
    """Totals of the `count` months ending with `month`, laid out for a 600 x 200 SVG chart."""
    months = [month]
    while len(months) < count:
        months.insert(0, months[0].previous())
    book = SheetBook()
    bars = [ChartBar(m, compute_bill(subscription, m, book).total, selected=m == month) for m in months]
    top = max((bar.total for bar in bars), default=Decimal("0")) or Decimal("1")
    for index, bar in enumerate(bars):
        bar.height = int(Decimal(150) * bar.total / top)
        bar.x = 40 + index * 92
        bar.y = 170 - bar.height
    return bars


@dataclass
class Estimate:
    month: Month
    currency: str
    to_date: Decimal
    projected: Decimal
    days_elapsed: int
    items: int
    billable_items: int


def vault_month_estimate(vault, today: date | None = None) -> Estimate:
    """The vault's bill for the current month so far, and projected to the month's end on the
    assumption that today's usage continues."""
    today = today or timezone.now().date()
    month = Month.of(today)
    book = SheetBook()
    rows = list(DailyUsage.objects.filter(vault_ref=vault.pk).in_month(month).order_by("day", "pk"))
    lines = bill_lines(rows, month, book)
    to_date = sum((line.total for line in lines), Decimal("0.00"))
    latest_day = rows[-1].day if rows else None
    latest = [row for row in rows if row.day == latest_day and row.billable]
    remaining = (month.last_day - latest_day).days if latest_day else 0
    projection = Decimal("0")
    for row in latest:
        sheet = book.on(row.day)
        per_day = monthly_fee(Band(row.band, row.large_units), sheet) + to_gb(row.stored_bytes) * storage_rate(
            row.redundancy, sheet
        )
        projection += per_day * remaining / month.days
    currency = book.on(today).currency if _has_sheet(book, today) else "USD"
    return Estimate(
        month=month,
        currency=currency,
        to_date=to_date,
        projected=cents(to_date + projection),
        days_elapsed=len({row.day for row in rows}),
        items=len({(r.vault_ref, r.item_ref) for r in rows}),
        billable_items=len(latest),
    )
