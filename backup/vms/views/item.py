"""A protected item's page (click its name on PROTECTED ITEMS): its recovery points, Backup Details and
Backup Policy, with the item's commands in the bottom bar."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backup.guard import services as guard
from backup.jobs.models import Job, Operation
from backup.vaults.access import get_vault_for_user

from ..models import PointAnomaly
from ..services import kvm_registration, policies, protection, restore

VIEWS = ("points", "details", "policy")


@require_GET
@login_required
def item_detail(request, pk: int, item_pk: int):
    vault = get_vault_for_user(request.user, pk)
    item = protection.protected_items(vault).filter(pk=item_pk).first()
    if item is None:
        raise Http404("No such protected item.")
    view = request.GET.get("view") if request.GET.get("view") in VIEWS else "points"
    last_backup = (
        Job.objects.filter(vault_id=vault.pk, operation=Operation.BACKUP, params__protected_item_id=item.pk)
        .order_by("-started_at", "-id")
        .first()
    )
    # Every point keeps its verdict (confirmed ones stay marked); the open ones can be decided here.
    anomalies = {a.point_id: a for a in PointAnomaly.objects.filter(protected_item=item).select_related("point")}
    points = list(restore.points_of(item))
    for point in points:
        point.suspicion = anomalies.get(point.pk)
    context = {
        "vault": vault,
        "tab": "protected",
        "section": "recovery",
        "item": item,
        "view": view,
        "points": points,
        "suspicious": [a for a in anomalies.values() if a.state == PointAnomaly.State.SUSPICIOUS],
        "can_decide": guard.is_security_member(request.user, vault.subscription_id),
        "last_backup": last_backup,
        "newest": restore.points_of(item).first(),
        "damaged_points": list(restore.points_of(item).filter(damaged_at__isnull=False)),
        "policy": policies.described([item.policy])[0] if item.policy else None,
        "restored_disks": restore.restored_disk_jobs(vault).filter(item_name=item.vm_name)[:10],
        "notes": kvm_registration.notes(item.vm) if item.vm is not None else [],
    }
    return render(request, "vms/item.html", context)
