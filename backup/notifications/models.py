from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class NotificationQuerySet(models.QuerySet):
    def for_user(self, user) -> "NotificationQuerySet":
        return self.filter(user=user) if user.is_authenticated else self.none()

    def unread(self) -> "NotificationQuerySet":
        return self.filter(read_at__isnull=True)

    def for_toasts(self, seconds: int = 20, success_seconds: int = 6) -> "NotificationQuerySet":
        """What the toast area shows: recent, or still running, and not dismissed; a success says its word briefly."""
        now = timezone.now()
        return self.filter(dismissed=False).filter(
            models.Q(level=Notification.Level.PROGRESS)
            | models.Q(level=Notification.Level.SUCCESS, updated_at__gte=now - timedelta(seconds=success_seconds))
            | (~models.Q(level=Notification.Level.SUCCESS) & models.Q(updated_at__gte=now - timedelta(seconds=seconds)))
        )


class Notification(models.Model):
    """A status message for one user, shown as a toast and kept in the notifications panel.

    A long operation updates one notification in place (found by its key), so a toast that said
    "Creating…" turns into "Successfully created" instead of stacking a second toast.
    """

    class Level(models.TextChoices):
        PROGRESS = "progress", "In progress"
        SUCCESS = "success", "Succeeded"
        ERROR = "error", "Failed"
        INFO = "info", "Information"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    subscription = models.ForeignKey(
        "tenancy.Subscription", on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    key = models.CharField(max_length=100, blank=True, help_text="Identifies the operation this reports on.")
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    link_url = models.CharField(max_length=300, blank=True)
    link_label = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)
    read_at = models.DateTimeField(null=True, blank=True)
    dismissed = models.BooleanField(default=False)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["user", "key"]), models.Index(fields=["user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title
