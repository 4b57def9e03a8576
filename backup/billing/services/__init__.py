"""The billing app's services: pricing (the rules over a price sheet), usage (protected-instance
size and daily metering) and bills (a month's bill from the daily records)."""

from .bills import Bill, compute_bill, month_history, vault_month_estimate
from .usage import meter_day, meter_item, meter_usage, protected_instance_bytes, recompute_month

__all__ = [
    "Bill",
    "compute_bill",
    "meter_day",
    "meter_item",
    "meter_usage",
    "month_history",
    "protected_instance_bytes",
    "recompute_month",
    "vault_month_estimate",
]
