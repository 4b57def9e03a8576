import csv

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from backup.tenancy.access import get_subscription_for_user, subscriptions_for
from backup.vaults.access import get_vault_for_user

from . import services
from .forms import BillingFilterForm
from .months import Month
from .services.pricing import GB, NoPriceSheet, SheetBook


def _selection(request) -> dict:
    """The subscription (only the user's: 404 otherwise) and month the page shows."""
    subscriptions = list(subscriptions_for(request.user))
    form = BillingFilterForm(request.GET or None)
    month = Month.of(timezone.now().date())
    if form.is_bound and form.is_valid() and form.cleaned_data["month"]:
        month = form.cleaned_data["month"]
    subscription = None
    if request.GET.get("subscription"):
        subscription = get_subscription_for_user(request.user, request.GET["subscription"])
    elif subscriptions:
        subscription = subscriptions[0]
    return {"subscriptions": subscriptions, "subscription": subscription, "month": month, "form": form}


@require_GET
@login_required
def billing(request):
    context = _selection(request)
    if context["subscription"] is not None:
        try:
            context["bill"] = services.compute_bill(context["subscription"], context["month"])
            context["history"] = services.month_history(context["subscription"], context["month"])
        except NoPriceSheet as missing:
            context["unpriced"] = str(missing)
            return render(request, "billing/billing.html", {"section": "billing", **context})
        context["history_has_charges"] = any(bar.total for bar in context["history"])
        today = timezone.now().date()
        context["in_progress"] = context["month"] == Month.of(today)
        context["metered_days"] = today.day
    return render(request, "billing/billing.html", {"section": "billing", **context})


CSV_HEADER = [
    "subscription",
    "month",
    "vault",
    "virtual machine",
    "cloud service",
    "protection status",
    "redundancy",
    "billable days",
    "days in month",
    "protected instance GB",
    "band",
    "instance charge",
    "logical GB-month (not billed)",
    "stored GB-month (billed)",
    "storage charge",
    "total",
    "currency",
]


@require_GET
@login_required
def billing_csv(request):
    context = _selection(request)
    subscription, month = context["subscription"], context["month"]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"bill-{subscription.pk if subscription else 'none'}-{month}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    if subscription is None:
        return response
    try:
        bill = services.compute_bill(subscription, month)
    except NoPriceSheet as missing:
        return HttpResponse(str(missing), status=409, content_type="text/plain; charset=utf-8")
    for line in bill.lines:
        writer.writerow(
            [
                subscription.name,
                month,
                line.vault_name,
                line.vm_name,
                line.cloud_service_name,
                line.item_status,
                line.redundancy,
                line.billable_days,
                month.days,
                f"{line.protected_instance_gb:.2f}",
                line.band,
                line.instance_charge,
                line.logical_gb_month,
                line.storage_gb_month,
                line.storage_charge,
                line.total,
                bill.currency,
            ]
        )
    writer.writerow(
        [
            subscription.name,
            month,
            "TOTAL",
            "",
            "",
            "",
            "",
            "",
            month.days,
            "",
            "",
            bill.instance_total,
            bill.logical_gb_month_total,
            bill.storage_gb_month_total,
            bill.storage_total,
            bill.total,
            bill.currency,
        ]
    )
    return response


@require_GET
@login_required
@vary_on_headers("HX-Request")
def billing_rules(request):
    today = timezone.now().date()
    book = SheetBook()
    context = {
        "sheets": book.sheets,
        "in_force": book.on(today) if book.sheets else None,
        "gb_bytes_text": f"{GB:,}",
        "section": "billing",
    }
    template = "billing/partials/rules_modal.html" if request.htmx else "billing/rules.html"
    return render(request, template, context)


@require_GET
@login_required
def vault_estimate(request, pk: int):
    vault = get_vault_for_user(request.user, pk)
    try:
        estimate, unpriced = services.vault_month_estimate(vault), ""
    except NoPriceSheet as missing:
        estimate, unpriced = None, str(missing)
    return render(
        request, "billing/partials/vault_estimate.html", {"vault": vault, "estimate": estimate, "unpriced": unpriced}
    )
