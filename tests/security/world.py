"""A small world of Alpha's objects for the tenancy matrix and the fuzz tests: one of each kind a URL can name.

Every name carries MARKER, so a page or API answer that leaks any of it to another subscription is caught.
"""

from dataclasses import dataclass

from django.contrib.auth.models import Group
from django.utils import timezone

from backup.guard.models import ApprovalRequest, ResourceGuard
from backup.jobs.models import Job, JobStatus, Operation
from backup.notifications.models import Notification
from backup.vms.models import PointAnomaly, RecoveryPoint
from tests.factories import make_policy, make_vault, make_vm, protect

MARKER = "alphasecret"


@dataclass
class World:
    subscription: object
    vault: object
    vm: object
    registered: object
    protected: object
    policy: object
    point: object
    job: object
    notification: object
    anomaly: object = None
    approval: object = None

    def ids(self) -> dict[str, int | str]:
        """Which object a URL or API parameter names, by the parameter's name or the path segment before it."""
        return {
            "vaults": self.vault.pk, "vault": self.vault.pk, "vault_id": self.vault.pk,
            "jobs": self.job.pk, "job": self.job.pk, "job_id": self.job.pk,
            "notifications": self.notification.pk, "notification_id": self.notification.pk,
            "registered": self.registered.pk, "registered_item_id": self.registered.pk,
            "protected": self.protected.pk, "items": self.protected.pk, "item": self.protected.pk,
            "protected-items": self.protected.pk, "item_id": self.protected.pk, "protected_item_id": self.protected.pk,
            "policies": self.policy.pk, "policy": self.policy.pk, "policy_id": self.policy.pk,
            "points": self.point.pk, "recovery-points": self.point.pk, "point_id": self.point.pk,
            "recovery_point_id": self.point.pk,
            "vms": self.vm.pk, "vm": self.vm.pk, "vm_id": self.vm.pk, "vm_ids": self.vm.pk,
            "subscriptions": self.subscription.pk, "subscription": self.subscription.pk,
            "subscription_id": self.subscription.pk,
            "month": timezone.now().strftime("%Y-%m"),
            "anomaly_id": self.anomaly.pk, "request_id": self.approval.pk,
            "anomaly_pk": self.anomaly.pk, "request_pk": self.approval.pk,
        }

    def snapshot(self) -> dict:
        """What another subscription's requests must never change."""
        from backup.vaults.models import Vault
        from backup.vms.models import BackupPolicy, ProtectedItem, RegisteredItem

        sub = self.subscription
        return {
            "vaults": sorted(Vault.objects.filter(subscription=sub).values_list("pk", "name", "status", "redundancy")),
            "policies": sorted(BackupPolicy.objects.filter(vault__subscription=sub).values_list("pk", "name")),
            "registered": sorted(RegisteredItem.objects.filter(vault__subscription=sub).values_list("pk", "status")),
            "protected": sorted(ProtectedItem.objects.filter(vault__subscription=sub).values_list("pk", "status")),
            "points": sorted(RecoveryPoint.objects.filter(vault__subscription=sub).values_list("pk", flat=True)),
            "jobs": sorted(Job.objects.filter(subscription=sub).values_list("pk", "status", "cancel_requested")),
            "notifications": sorted(Notification.objects.filter(subscription=sub).values_list("pk", "dismissed")),
        }


def build_world(alpha, alice) -> World:
    vault = make_vault(alpha, name=f"{MARKER}-vault")
    policy = make_policy(vault, name=f"{MARKER}-policy")
    vm = make_vm(alpha, name=f"{MARKER}-vm", os_mib=0.25, data_mib=0.25)
    protected = protect(vault, vm, policy)
    point = RecoveryPoint.objects.create(
        vault=vault, protected_item=protected, registered_item=protected.registered_item, vm_name=vm.name,
        point_id="job-0", created_at=timezone.now(), consistency=RecoveryPoint.Consistency.FILE,
    )
    job = Job.objects.create(subscription=alpha, vault_id=vault.pk, operation=Operation.BACKUP, item_type="vm",
                             item_id=protected.pk, item_name=f"{MARKER}-vm", status=JobStatus.IN_PROGRESS,
                             cancellable=True, created_by=alice)
    notification = Notification.objects.create(user=alice, subscription=alpha, title=f"{MARKER} job completed",
                                               key=f"job-{job.pk}", link_url=f"/jobs/{job.pk}/")
    anomaly = PointAnomaly.objects.create(point=point, vault=vault, protected_item=protected, vm_name=vm.name,
                                          changed_share=0.9, new_data_ratio=1.0, usual_changed_share=0.05,
                                          usual_new_data_ratio=0.3)
    # A guard that protects nothing, so that its request has an id to try while every operation runs as before.
    security = Group.objects.create(name=f"{MARKER}-security")
    guard = ResourceGuard.objects.create(subscription=alpha, name=f"{MARKER}-guard", security_group=security,
                                         operations=[])
    approval = ApprovalRequest.objects.create(guard=guard, operation="delete_vault", target=f"vault:{vault.pk}",
                                              target_name=f"{MARKER}-vault", requested_by=alice)
    return World(alpha, vault, vm, protected.registered_item, protected, policy, point, job, notification, anomaly,
                 approval)
