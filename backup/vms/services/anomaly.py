"""Change-rate and encryption anomalies: each backup's share of the item it changed and how well its new
data compressed (from the point's manifest figures: see `figures`) are kept per item (BackupFigures, the newest
2 x ANOMALY_HISTORY, whatever retention pruned) and compared with the item's own recent backups. A backup
that changed several times its usual share, and most of the item, with near incompressible new data is what
mass encryption looks like: its point is marked Suspicious (a security alert,
see the alerts app), and retention prunes no older point of the item until the security role (the resource
guard's, or the superusers where there is none) decides: Dismissed (a legitimate change) ends the hold,
Confirmed (an attack) keeps it, so the clean points from before the attack stay.

The thresholds are settings so an operator can tune them: ANOMALY_HISTORY (points compared, default 10),
ANOMALY_MIN_HISTORY (3), ANOMALY_CHANGE_FACTOR (4), ANOMALY_MIN_CHANGED_SHARE (0.5), ANOMALY_INCOMPRESSIBLE (0.9).
"""

from __future__ import annotations

from statistics import median

from django.conf import settings
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from backup.guard import services as guard
from backup.guard.models import AuditEvent
from backup.jobs.errors import Refused

from ..models import BackupFigures, PointAnomaly, RecoveryPoint

# Sent once a suspicious point is confirmed or dismissed (argument: anomaly), so its alert is resolved.
anomaly_decided = Signal()

NOT_SECURITY = "Only the security role of this subscription can confirm or dismiss a suspicious recovery point."
ALREADY_DECIDED = "This recovery point was already {state} by {who}."
REASON_NEEDED = "Give the reason for your decision."


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def figures(point: RecoveryPoint) -> tuple[float, float] | None:
    """(changed share, new-data ratio) of a point's backup, from its manifest's figures: the share of the
    item's data the backup had to store anew (unchanged data deduplicates), and how large what it read stayed
    after compression. Not bytes read / logical bytes for the share: the store reads whole 4 MiB chunks, holes
    included, so on a machine of some tens of MiB a normal day already reads a third of it."""
    if point.logical_bytes <= 0 or point.bytes_read <= 0:
        return None
    read = min(point.bytes_read, point.logical_bytes)
    return min(point.bytes_transferred / point.logical_bytes, 1.0), point.bytes_transferred / read


def assess(point: RecoveryPoint) -> PointAnomaly | None:
    """Compare a new point with its item's recent backups; record its figures, and the anomaly if it is one."""
    now_figures = figures(point)
    if now_figures is None or point.protected_item_id is None:
        return None
    keep = int(_setting("ANOMALY_HISTORY", 10))
    recent = BackupFigures.objects.filter(
        protected_item_id=point.protected_item_id, suspicious=False, created_at__lt=point.created_at
    )
    past = list(recent.order_by("-created_at").values_list("changed_share", "new_data_ratio")[:keep])
    changed, new_ratio = now_figures
    found = None
    if len(past) >= _setting("ANOMALY_MIN_HISTORY", 3):
        usual_changed, usual_ratio = median(f[0] for f in past), median(f[1] for f in past)
        if changed >= max(
            usual_changed * _setting("ANOMALY_CHANGE_FACTOR", 4), _setting("ANOMALY_MIN_CHANGED_SHARE", 0.5)
        ) and new_ratio >= _setting("ANOMALY_INCOMPRESSIBLE", 0.9):
            found = PointAnomaly.objects.create(
                point=point,
                vault_id=point.vault_id,
                protected_item_id=point.protected_item_id,
                vm_name=point.vm_name,
                changed_share=changed,
                new_data_ratio=new_ratio,
                usual_changed_share=usual_changed,
                usual_new_data_ratio=usual_ratio,
            )
            guard.audit(
                AuditEvent.Kind.POINT_SUSPICIOUS,
                subscription_id=point.vault.subscription_id,
                vault_id=point.vault_id,
                target=f"recovery-point:{point.pk}",
                detail=found.summary + ".",
            )
    BackupFigures.objects.create(
        protected_item_id=point.protected_item_id,
        point_id=point.point_id,
        created_at=point.created_at,
        changed_share=changed,
        new_data_ratio=new_ratio,
        suspicious=found is not None,
    )
    old = BackupFigures.objects.filter(protected_item_id=point.protected_item_id).order_by("-created_at")[keep * 2 :]
    BackupFigures.objects.filter(pk__in=list(old.values_list("pk", flat=True))).delete()
    return found


HOLDING = (PointAnomaly.State.SUSPICIOUS, PointAnomaly.State.CONFIRMED)


def held_before(item_id: int):
    """The created_at of the item's newest suspicious point not dismissed: retention keeps every point up to it."""
    held = PointAnomaly.objects.filter(protected_item_id=item_id, state__in=HOLDING)
    return held.order_by("-point__created_at").values_list("point__created_at", flat=True).first()


def anomalies_for(user):
    """The anomalies a user may see: those of their subscriptions, and those of the guards whose role they hold."""
    if not user.is_authenticated:
        return PointAnomaly.objects.none()
    scope = Q(vault__subscription__memberships__user=user) | Q(vault__subscription__guard__security_group__user=user)
    if user.is_superuser:
        scope |= Q(vault__subscription__guard__isnull=True)
    return PointAnomaly.objects.filter(scope).distinct()


def decide(anomaly: PointAnomaly, user, *, confirm: bool, reason: str) -> PointAnomaly:
    """The security role's verdict: dismissing ends the hold on the item's older points, confirming keeps it."""
    subscription_id = anomaly.vault.subscription_id
    if not guard.is_security_member(user, subscription_id):
        raise Refused(NOT_SECURITY, code="NotSecurityRole")
    reason = (reason or "").strip()
    if not reason:
        raise Refused(REASON_NEEDED, code="ReasonNeeded", field="reason")
    state = PointAnomaly.State.CONFIRMED if confirm else PointAnomaly.State.DISMISSED
    if not PointAnomaly.objects.filter(pk=anomaly.pk, state=PointAnomaly.State.SUSPICIOUS).update(
        state=state, decided_by=user, decided_at=timezone.now(), decision_reason=reason[:500]
    ):
        anomaly.refresh_from_db()
        raise Refused(ALREADY_DECIDED.format(state=anomaly.state, who=anomaly.decided_by), code="AlreadyDecided")
    anomaly.refresh_from_db()
    guard.audit(
        AuditEvent.Kind.POINT_DECIDED,
        subscription_id=subscription_id,
        actor=user,
        vault_id=anomaly.vault_id,
        target=f"recovery-point:{anomaly.point_id}",
        detail=f"{anomaly.get_state_display()}: {reason}",
    )
    anomaly_decided.send(sender=PointAnomaly, anomaly=anomaly)
    return anomaly
