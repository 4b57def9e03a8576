import secrets
from datetime import timedelta

from django.contrib.auth.models import User
from django.dispatch import Signal
from django.utils import timezone

from .models import ApiToken, hash_token
from .prepared import Prepared

# Sent before another user's token is revoked (owner, prefix, by, approval); a receiver refuses by raising.
token_revoking = Signal()


class TokenExpired(Exception):
    """A real token past its expiry: the API says so instead of a bare "Unauthorized"."""

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        super().__init__(
            f"The API token {token.prefix}… expired on {token.expires_at:%Y-%m-%d %H:%M} UTC. "
            "Ask an administrator for a new one (manage.py issue_token)."
        )


def issue_token(user: User, name: str = "cli", lifetime: timedelta | None = None) -> str:
    """Create an API token and return it in clear text; it cannot be recovered later. With a lifetime it is
    refused once that has passed; without one it works until revoked."""
    raw = "abp_" + secrets.token_urlsafe(32)
    expires_at = timezone.now() + lifetime if lifetime is not None else None
    ApiToken.objects.create(user=user, name=name, prefix=raw[:12], token_hash=hash_token(raw), expires_at=expires_at)
    return raw


# A token's last use is recorded to the minute: a write (and a commit) per API request would cost more than the
# request itself, and an administrator asks "used today?", not "used this second?".
LAST_USED_PRECISION = timedelta(minutes=1)


def _active_token(token_hash: str):
    tokens = ApiToken.objects.active().select_related("user").filter(token_hash=token_hash)
    return (tokens if tokens.ordered else tokens.order_by("pk"))[:1]  # as .first() orders


# Every API request looks its token up: the SQL is built once (prepared.py).
_ACTIVE_TOKEN = Prepared(ApiToken, _active_token, str)


def user_for_token(raw: str):
    """The token's user, or None for an unknown or revoked token; raises TokenExpired for an expired one."""
    found = _ACTIVE_TOKEN(hash_token(raw))
    token = found[0] if found else None
    if token is None or not token.user.is_active:
        return None
    if token.expired:
        raise TokenExpired(token)
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def revoke_token(user: User, prefix: str, *, by: User | None = None, approval: int | str | None = None) -> int:
    """Revoke `user`'s active tokens starting with `prefix`. Revoking someone else's (`by` another user, or
    an operator who does not say who they are) is first put to the receivers of `token_revoking`, which may
    refuse it (a resource guard's approval)."""
    tokens = ApiToken.objects.active().filter(user=user, prefix=prefix)
    if (by is None or by.pk != user.pk) and tokens.exists():
        token_revoking.send(sender=ApiToken, owner=user, prefix=prefix, by=by, approval=approval)
    return tokens.update(revoked_at=timezone.now())
