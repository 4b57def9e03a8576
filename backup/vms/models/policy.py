from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone as dj_timezone


class BackupPolicy(models.Model):
    """When a vault backs up its protected machines and how long it keeps their recovery points.

    Retention is grandfather-father-son: daily points are kept `daily_retention_days`, and the
    optional weekly, monthly and yearly rules keep the points of some days for longer: the weekly rule
    those of `weekly_retention_days`, the monthly and yearly rules either day-based (days of the month,
    0 = the last day) or week-based (First-Fourth or Last of some weekdays), the yearly rule in some
    months. A rule without days or format (policies made before there were formats) keeps the newest
    point of each week, month or year.
    The schedule is stored as the user gave it (time of day in `timezone`); its Celery beat entry
    (`periodic_task`) is kept in step by the services whenever the policy changes.
    """

    class Frequency(models.TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    class RetentionFormat(models.TextChoices):
        DAY_BASED = "day", "Day-based"
        WEEK_BASED = "week", "Week-based"

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
    weekly_retention_days = models.JSONField(default=list, blank=True)
    monthly_retention_format = models.CharField(max_length=4, choices=RetentionFormat.choices, blank=True, default="")
    monthly_retention_days_of_month = models.JSONField(default=list, blank=True)
    monthly_retention_weeks_of_month = models.JSONField(default=list, blank=True)
    monthly_retention_days_of_week = models.JSONField(default=list, blank=True)
    yearly_retention_format = models.CharField(max_length=4, choices=RetentionFormat.choices, blank=True, default="")
    yearly_retention_months = models.JSONField(default=list, blank=True)
    yearly_retention_days_of_month = models.JSONField(default=list, blank=True)
    yearly_retention_weeks_of_month = models.JSONField(default=list, blank=True)
    yearly_retention_days_of_week = models.JSONField(default=list, blank=True)
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
