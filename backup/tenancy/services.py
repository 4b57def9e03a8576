import secrets

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from .models import ApiToken, Subscription, hash_token


def subscriptions_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Subscription]:
    """The subscriptions a user may see; every tenant-scoped read starts here."""
    if not user.is_authenticated:
        return Subscription.objects.none()
    return Subscription.objects.filter(memberships__user=user)


def get_subscription_for_user(user: AbstractBaseUser, pk: int) -> Subscription:
    try:
        return subscriptions_for(user).get(pk=pk)
    except (Subscription.DoesNotExist, ValueError, TypeError):
        raise Http404("No such subscription.") from None


def issue_token(user: AbstractBaseUser, name: str = "cli") -> str:
    """Create an API token and return it in clear text; it cannot be recovered later."""
    raw = "abp_" + secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, name=name, prefix=raw[:12], token_hash=hash_token(raw))
    return raw


def user_for_token(raw: str):
    token = ApiToken.objects.active().select_related("user").filter(token_hash=hash_token(raw)).first()
    if token is None or not token.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user


def revoke_token(user: AbstractBaseUser, prefix: str) -> int:
    return ApiToken.objects.active().filter(user=user, prefix=prefix).update(revoked_at=timezone.now())
