"""The product's price rules as pure functions over a price sheet (see models.PriceSheet).

GB: the product priced disks and storage in GB of 2^30 bytes (a "1023 GB" disk is 1023 x 2^30
bytes), so every GB in billing is 2^30 bytes; the seed's 17 GB + 30 GB example is 47 x 2^30.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from ..models import DailyUsage, PriceSheet

GB = 2**30
CENT = Decimal("0.01")

BAND_RULES = {
    DailyUsage.Band.SMALL: "up to {small} GB: {small_fee} a month",
    DailyUsage.Band.MEDIUM: "over {small} GB up to {medium} GB: {medium_fee} a month",
    DailyUsage.Band.LARGE: "over {medium} GB: {large_fee} a month per started {unit} GB",
}


class NoPriceSheet(LookupError):
    """No price sheet is in force on a day that has usage; an operator must add one."""


@dataclass(frozen=True)
class Band:
    code: str
    large_units: int = 0


def band_for(protected_instance_bytes: int, sheet: PriceSheet) -> Band:
    """The size band of a protected instance; band edges are inclusive (50 GB is still small)."""
    if protected_instance_bytes <= sheet.small_band_max_gb * GB:
        return Band(DailyUsage.Band.SMALL)
    if protected_instance_bytes <= sheet.medium_band_max_gb * GB:
        return Band(DailyUsage.Band.MEDIUM)
    unit = sheet.large_unit_gb * GB
    return Band(DailyUsage.Band.LARGE, large_units=-(-protected_instance_bytes // unit))


def monthly_fee(band: Band, sheet: PriceSheet) -> Decimal:
    """The protected-instance fee for a whole month in this band."""
    if band.code == DailyUsage.Band.SMALL:
        return sheet.small_fee
    if band.code == DailyUsage.Band.MEDIUM:
        return sheet.medium_fee
    return sheet.large_fee_per_unit * band.large_units


def storage_rate(redundancy: str, sheet: PriceSheet) -> Decimal:
    """Price of one GB-month of backup storage in a vault of this redundancy ("geo" or "local")."""
    return sheet.lrs_storage_per_gb_month if redundancy == "local" else sheet.grs_storage_per_gb_month


def band_label(band: Band, sheet: PriceSheet | None = None) -> str:
    if sheet is None:
        return {"small": "Small", "medium": "Medium", "large": "Large"}[band.code]
    if band.code == DailyUsage.Band.SMALL:
        return f"\u2264\u00a0{sheet.small_band_max_gb}\u00a0GB"
    if band.code == DailyUsage.Band.MEDIUM:
        return f"{sheet.small_band_max_gb}\u2013{sheet.medium_band_max_gb}\u00a0GB"
    units = f"{band.large_units}\u00a0\u00d7\u00a0{sheet.large_unit_gb}\u00a0GB"
    return f">\u00a0{sheet.medium_band_max_gb}\u00a0GB: {units}"


def to_gb(num_bytes: int) -> Decimal:
    return Decimal(num_bytes) / Decimal(GB)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


class SheetBook:
    """All price sheets, looked up by day without a query per day."""

    def __init__(self, sheets: list[PriceSheet] | None = None) -> None:
        if sheets is None:
            sheets = list(PriceSheet.objects.all())
        self.sheets = sorted(sheets, key=lambda s: (s.effective_from, s.pk or 0), reverse=True)

    def on(self, day: date) -> PriceSheet:
        for sheet in self.sheets:
            if sheet.effective_from <= day:
                return sheet
        raise NoPriceSheet(
            f"No price sheet is in force on {day:%Y-%m-%d}, so this bill cannot be priced. "
            "An operator must add a price sheet in the admin (Billing > Price sheets)."
        )
