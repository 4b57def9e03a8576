from django.db import models
from django.utils import timezone


class DrillPlan(models.Model):
    class PointChoice(models.TextChoices):
        NEWEST = "newest", "The newest point"
        RANDOM = "random", "A random point of the last N days"

    class Check(models.TextChoices):
        CHUNK_HASHES = "chunk_hashes", "Every restored chunk's hash equals the manifest's (byte-exact)"

    vault = models.ForeignKey("vaults.Vault", on_delete=models.CASCADE, related_name="drill_plans")
    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    every_hours = models.PositiveIntegerField(default=24, help_text="A drill starts this long after the last one.")
    items = models.ManyToManyField(
        "vms.ProtectedItem",
        blank=True,
        related_name="+",
        help_text="None: every protected item of the vault with a recovery point.",
    )
    point_choice = models.CharField(max_length=10, choices=PointChoice.choices, default=PointChoice.NEWEST)
    within_days = models.PositiveIntegerField(default=7, help_text="For a random point: how far back it may be.")
    sandbox_account = models.ForeignKey(
        "vms.StorageAccount",
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Where the disks are restored, then removed.",
    )
    check_kind = models.CharField("check", max_length=20, choices=Check.choices, default=Check.CHUNK_HASHES)
    boot_check = models.BooleanField(
        default=False,
        help_text="For a KVM host's machine: restore its disks as volumes into the host's pool (the "
        "sandbox pool), start a sandbox domain and wait for its guest agent to answer; "
        "then remove the domain and the volumes.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["vault", "name"]

    def __str__(self) -> str:
        return self.name


class DrillResult(models.Model):
    """One item of one drill: passed or not, and how long its restore took (the RTO measured)."""

    class Status(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    plan = models.ForeignKey(DrillPlan, on_delete=models.SET_NULL, null=True, blank=True, related_name="results")
    vault = models.ForeignKey("vaults.Vault", on_delete=models.CASCADE, related_name="+")
    job_id = models.BigIntegerField()
    protected_item = models.ForeignKey(
        "vms.ProtectedItem", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    vm_name = models.CharField(max_length=64)
    point_id = models.CharField(max_length=64, blank=True)
    point_created_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    message = models.TextField(blank=True)
    restore_seconds = models.FloatField(null=True, blank=True)
    disks = models.PositiveSmallIntegerField(default=0)
    chunks_checked = models.PositiveIntegerField(default=0)
    bytes_restored = models.BigIntegerField(default=0)
    boot_result = models.CharField(
        max_length=200, blank=True, help_text="With boot check: whether the sandbox domain's guest agent answered."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["vault", "protected_item", "-created_at"], name="drill_vault_item_created")]

    def __str__(self) -> str:
        return f"{self.vm_name}: {self.get_status_display()}"
