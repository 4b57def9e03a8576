from django.db import models
from django.utils import timezone

from backup.tenancy.models import SubscriptionScopedQuerySet
from backup.vaults.regions import REGION_CHOICES


class HypervisorHost(models.Model):
    """A KVM host reached through libvirt. Its domains are virtual machines of the subscription: they are
    listed under the host's own cloud service (named after the host), and their disks under the host's
    storage account, which stands for the libvirt storage pool that restored machines' new disks go to."""

    class Status(models.TextChoices):
        CONNECTED = "Connected", "Connected"
        UNAVAILABLE = "Unavailable", "Unavailable"

    subscription = models.ForeignKey("tenancy.Subscription", on_delete=models.CASCADE, related_name="hosts")
    name = models.CharField(max_length=63, unique=True)
    uri = models.CharField(
        max_length=255,
        help_text="libvirt connection URI, e.g. qemu:///system or qemu+ssh://root@kvm2.example.net/system",
    )
    region = models.CharField(max_length=40, choices=REGION_CHOICES)
    storage_pool = models.CharField(max_length=100, help_text="libvirt storage pool for restored disks")
    cloud_service = models.OneToOneField("vms.CloudService", on_delete=models.PROTECT, related_name="host")
    storage_account = models.OneToOneField("vms.StorageAccount", on_delete=models.PROTECT, related_name="host")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONNECTED)
    last_error = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SubscriptionScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
