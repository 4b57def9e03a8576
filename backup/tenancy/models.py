import hashlib
import uuid
from typing import TYPE_CHECKING, Self

from django.conf import settings
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class SubscriptionScopedQuerySet(models.QuerySet):
    """Rows that belong to a subscription. Every tenant-scoped read starts with `for_user`, so one lookup decides
    who sees what; a model reaching its subscription through another row names the way in `members_lookup`."""

    members_lookup = "subscription__memberships__user"

    def for_user(self, user) -> Self:
        """Rows of the subscriptions the user is a member of; nothing for anonymous users."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(**{self.members_lookup: user})


class SubscriptionQuerySet(SubscriptionScopedQuerySet):
    members_lookup = "memberships__user"


class Subscription(models.Model):
    """A billing and isolation boundary: every vault, machine and job belongs to one."""

    name = models.CharField(max_length=100)
    subscription_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    members: "models.ManyToManyField[User, Membership]" = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="subscriptions"
    )

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's access to a subscription."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        CONTRIBUTOR = "contributor", "Contributor"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OWNER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "subscription"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.subscription}"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> "ApiTokenQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored; the raw token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, default="cli")
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # None: the token works until it is revoked (`manage.py issue_token` without --days / --expires-in).
    expires_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def expiry_display(self) -> str:
        if self.expires_at is None:
            return "never expires"
        when = self.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        return f"expired {when}" if self.expired else f"expires {when}"
