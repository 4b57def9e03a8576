from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone

from backup.fabric import layout
from backup.fabric.machines import MachineSpec
from backup.tenancy.models import SubscriptionScopedQuerySet
from backup.vaults.regions import REGION_CHOICES


class StorageAccount(models.Model):
    """A storage account: where a machine's disk images live (a folder of the fabric, by id)."""

    class Kind(models.TextChoices):
        STANDARD_LRS = "Standard_LRS", "Standard (locally redundant)"
        STANDARD_GRS = "Standard_GRS", "Standard (geo-redundant)"
        STANDARD_ZRS = "Standard_ZRS", "Standard (zone-redundant)"
        PREMIUM_LRS = "Premium_LRS", "Premium (locally redundant)"

    subscription = models.ForeignKey("tenancy.Subscription", on_delete=models.CASCADE, related_name="storage_accounts")
    name = models.CharField(max_length=24, unique=True)
    region = models.CharField(max_length=40, choices=REGION_CHOICES)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.STANDARD_LRS)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SubscriptionScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def folder(self) -> Path:
        return layout.storage_account_dir(Path(settings.FABRIC_ROOT), self.pk)


class CloudService(models.Model):
    """A classic cloud service (`<name>.cloudapp.net`): the container machines are deployed in."""

    subscription = models.ForeignKey("tenancy.Subscription", on_delete=models.CASCADE, related_name="cloud_services")
    name = models.CharField(max_length=63, unique=True)
    region = models.CharField(max_length=40, choices=REGION_CHOICES)
    virtual_network = models.CharField(max_length=64, blank=True)
    subnets = models.JSONField(default=list, blank=True)
    reserved_ip = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SubscriptionScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def dns_name(self) -> str:
        return f"{self.name}.cloudapp.net"


class VirtualMachine(models.Model):
    """A virtual machine of the fabric; its disks are real sparse image files."""

    class DeploymentModel(models.TextChoices):
        CLASSIC = "classic", "Classic"
        RESOURCE_MANAGER = "resource_manager", "Resource Manager"

    class OsFamily(models.TextChoices):
        WINDOWS = "windows", "Windows"
        LINUX = "linux", "Linux"

    class AgentState(models.TextChoices):
        RESPONDING = "responding", "Guest agent responding"
        NOT_RESPONDING = "not_responding", "Guest agent not responding"
        ABSENT = "absent", "No guest agent channel"

    class PowerState(models.TextChoices):
        RUNNING = "Running", "Running"
        STOPPED = "Stopped", "Stopped"
        DEALLOCATED = "Deallocated", "Stopped (Deallocated)"

    subscription = models.ForeignKey("tenancy.Subscription", on_delete=models.CASCADE, related_name="virtual_machines")
    cloud_service = models.ForeignKey(CloudService, on_delete=models.PROTECT, related_name="virtual_machines")
    name = models.CharField(max_length=64)
    deployment_model = models.CharField(max_length=20, choices=DeploymentModel.choices, default="classic")
    os_family = models.CharField(max_length=10, choices=OsFamily.choices, default="windows")
    os_version = models.CharField(max_length=60, default="Windows Server 2012 R2")
    power_state = models.CharField(max_length=20, choices=PowerState.choices, default="Running")
    agent_installed = models.BooleanField(default=True)
    agent_version = models.CharField(max_length=30, blank=True, default="2.6.1198.718")
    backup_extension_installed = models.BooleanField(default=False)
    size = models.CharField(max_length=20, default="A2")
    reserved_ip_count = models.PositiveSmallIntegerField(default=0)
    endpoint_count = models.PositiveSmallIntegerField(default=1)
    nic_count = models.PositiveSmallIntegerField(default=1)
    load_balanced = models.BooleanField(default=False)
    domain_controller = models.BooleanField(default=False)
    multi_dc_domain = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    # A libvirt domain of a KVM host (none for the simulated fabric's machines).
    host = models.ForeignKey(
        "vms.HypervisorHost", on_delete=models.SET_NULL, null=True, blank=True, related_name="virtual_machines"
    )
    domain_uuid = models.CharField(max_length=36, blank=True)
    agent_state = models.CharField(max_length=20, choices=AgentState.choices, blank=True)

    objects = SubscriptionScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["cloud_service", "name"], name="vm_name_unique_in_cloud_service")
        ]
        indexes = [models.Index(fields=["subscription", "name"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.cloud_service.name})"

    @property
    def region(self) -> str:
        return self.cloud_service.region

    @property
    def folder(self) -> Path:
        return layout.vm_dir(Path(settings.FABRIC_ROOT), self.pk)

    def spec(self) -> MachineSpec:
        """The fabric's view of this machine, for limitation checks and the agent."""
        disks = list(self.disks.select_related("storage_account"))
        storage_types = {d.storage_account.kind for d in disks if d.kind != VirtualDisk.Kind.RESOURCE}
        storage = "Premium_LRS" if "Premium_LRS" in storage_types else (sorted(storage_types) or ["Standard_LRS"])[0]
        return MachineSpec(
            name=self.name,
            cloud_service=self.cloud_service.name,
            region=self.cloud_service.region,
            deployment_model=self.deployment_model,
            os_family=self.os_family,
            os_version=self.os_version,
            power_state=self.power_state,
            agent_installed=self.agent_installed,
            agent_version=self.agent_version or None,
            size=self.size,
            storage_type=storage,
            data_disk_count=sum(1 for d in disks if d.kind == VirtualDisk.Kind.DATA),
            reserved_ip_count=self.reserved_ip_count,
            endpoint_count=self.endpoint_count,
            nic_count=self.nic_count,
            load_balanced=self.load_balanced,
            domain_controller=self.domain_controller,
            multi_dc_domain=self.multi_dc_domain,
        )


class VirtualDisk(models.Model):
    """One disk of a machine: the OS disk, a data disk at a LUN, or the resource (temporary) disk."""

    class Kind(models.TextChoices):
        OS = "os", "OS disk"
        DATA = "data", "Data disk"
        RESOURCE = "resource", "Resource disk"

    vm = models.ForeignKey(VirtualMachine, on_delete=models.CASCADE, related_name="disks")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    lun = models.PositiveSmallIntegerField(default=0)
    storage_account = models.ForeignKey(StorageAccount, on_delete=models.PROTECT, related_name="disks")
    max_size = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    # A libvirt domain's disk: its target ("vda"), image, format and allocation as the host last reported.
    target = models.CharField(max_length=32, blank=True)
    source_path = models.CharField(max_length=1024, blank=True)
    disk_format = models.CharField(max_length=20, blank=True)
    allocation = models.BigIntegerField(null=True, blank=True)
    trackable = models.BooleanField(default=True)

    class Meta:
        ordering = ["vm", "kind", "lun"]
        constraints = [models.UniqueConstraint(fields=["vm", "kind", "lun"], name="one_disk_per_vm_slot")]

    def __str__(self) -> str:
        return f"{self.vm.name} {self.key}"

    @property
    def key(self) -> str:
        """The disk's stable name within its machine, used in snapshots and manifests."""
        if self.target:
            return self.target
        return f"data-{self.lun}" if self.kind == self.Kind.DATA else self.kind

    @property
    def path(self) -> Path:
        return layout.disk_path(Path(settings.FABRIC_ROOT), self.storage_account_id, self.pk)
