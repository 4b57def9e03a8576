from datetime import date

from django.utils import timezone
from ninja import Router, Schema, Status

from backup.tenancy.access import get_subscription_for_user
from backup.tenancy.api_errors import ErrorOut, field_errors

from . import services
from .models import DailyUsage
from .months import BadMonth, Month
from .services.pricing import GB, NoPriceSheet

router = Router(tags=["billing"])


class UsageOut(Schema):
    day: date
    vault_id: int
    vault_name: str
    item_id: int
    vm_name: str
    cloud_service_name: str
    item_status: str
    billable: bool
    protected_instance_bytes: int
    band: str
    large_units: int
    recovery_points: int
    logical_bytes: int
    stored_bytes: int
    redundancy: str


class BillLineOut(Schema):
    vault_id: int
    vault_name: str
    item_id: int
    vm_name: str
    cloud_service_name: str
    redundancy: str
    billable_days: int
    protected_instance_bytes: int
    band: str
    instance_charge: str
    logical_gb_month: str
    storage_gb_month: str
    storage_charge: str
    total: str


class BillOut(Schema):
    subscription_id: int
    month: str
    days_in_month: int
    currency: str
    gb_bytes: int
    storage_billed_on: str
    lines: list[BillLineOut]
    instance_total: str
    storage_total: str
    total: str


def _month(text: str | None) -> Month:
    if not text:
        return Month.of(timezone.now().date())
    return Month.parse(text)


def _bad_month(error: BadMonth, field: str) -> Status:
    return field_errors({field: [str(error)]})


@router.get("/subscriptions/{subscription_id}/usage", response={200: list[UsageOut], 400: ErrorOut})
def list_usage(request, subscription_id: int, month: str | None = None):
    subscription = get_subscription_for_user(request.auth, subscription_id)
    try:
        parsed = _month(month)
    except BadMonth as error:
        return _bad_month(error, "month")
    rows = DailyUsage.objects.filter(subscription=subscription).in_month(parsed)
    rows = rows.order_by("day", "vault_name", "vm_name")
    return Status(
        200,
        [
            {
                **{f: getattr(row, f) for f in UsageOut.model_fields if hasattr(row, f)},
                "vault_id": row.vault_ref,
                "item_id": row.item_ref,
            }
            for row in rows
        ],
    )


@router.get("/subscriptions/{subscription_id}/bills/{month}", response={200: BillOut, 400: ErrorOut, 409: ErrorOut})
def get_bill(request, subscription_id: int, month: str):
    subscription = get_subscription_for_user(request.auth, subscription_id)
    try:
        parsed = Month.parse(month)
    except BadMonth as error:
        return _bad_month(error, "month")
    try:
        bill = services.compute_bill(subscription, parsed)
    except NoPriceSheet as missing:
        return Status(409, {"detail": str(missing)})
    lines = [
        {
            "vault_id": line.vault_ref,
            "vault_name": line.vault_name,
            "item_id": line.item_ref,
            "vm_name": line.vm_name,
            "cloud_service_name": line.cloud_service_name,
            "redundancy": line.redundancy,
            "billable_days": line.billable_days,
            "protected_instance_bytes": line.protected_instance_bytes,
            "band": line.band,
            "instance_charge": str(line.instance_charge),
            "logical_gb_month": str(line.logical_gb_month),
            "storage_gb_month": str(line.storage_gb_month),
            "storage_charge": str(line.storage_charge),
            "total": str(line.total),
        }
        for line in bill.lines
    ]
    return Status(
        200,
        {
            "subscription_id": subscription.pk,
            "month": str(parsed),
            "days_in_month": parsed.days,
            "currency": bill.currency,
            "gb_bytes": GB,
            "storage_billed_on": "stored_bytes",
            "lines": lines,
            "instance_total": str(bill.instance_total),
            "storage_total": str(bill.storage_total),
            "total": str(bill.total),
        },
    )
