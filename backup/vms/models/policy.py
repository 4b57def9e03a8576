from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone


class BackupPolicy(models.Model):
    """When a vault backs up its protected machines and how long it keeps their recovery points.

    Retention is grandfather-father-son: daily points are kept `daily_retention_days`, and the
    optional weekly, monthly and yearly rules keep one point per week, month or year for longer.
    The schedule is stored as the user gave it (time of day in `timezone`); its Celery beat entry
    (`periodic_task`) is kept in step by the services whenever the policy changes.
    """

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    vault = models.ForeignKey("vaults.Vault", on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(max_length=150)
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.DAILY)
    # Weekdays as numbers, Monday = 0 ... Sunday = 6; used when the frequency is weekly.
    days_of_week = models.JSONField(default=list, blank=True)
    time_of_day = models.TimeField()
    timezone = models.CharField(max_length=64, default="UTC")
    daily_retention_days = models.PositiveIntegerField(null=True, blank=True)
    weekly_retention_weeks = models.PositiveIntegerField(null=True, blank=True)
    monthly_retention_months = models.PositiveIntegerField(null=True, blank=True)
    yearly_retention_years = models.PositiveIntegerField(null=True, blank=True)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=dj_timezone.now)
    updated_at = models.DateTimeField(default=dj_timezone.now)

    class Meta:
        ordering = ["vault", "name"]
        verbose_name_plural = "backup policies"
        constraints = [models.UniqueConstraint(Lower("name"), "vault", name="policy_name_unique_in_vault")]

    def __str__(self) -> str:
        return self.name
