"""The guard's hold on operations of the apps below it, which cannot call it themselves."""

from django.dispatch import receiver

from backup.jobs.errors import Refused
from backup.tenancy.models import ApiToken, Subscription
from backup.tenancy.services import token_revoking
from backup.vaults.models import Vault
from backup.vaults.safeguards import critical_change

from .models import GuardedOperation, ResourceGuard
from .services import require_approval, require_vault_approval

UNKNOWN_ACTOR = (
    "Revoking an API token of {owner} is protected by the resource guard '{guard}' - Say who you are "
    "(--by USERNAME), so that your request can be approved."
)


@receiver(token_revoking, sender=ApiToken)
def _guard_token_revocation(sender, owner, prefix: str, by, approval=None, **kwargs) -> None:
    subscriptions = Subscription.objects.filter(memberships__user=owner).order_by("pk")
    guard = ResourceGuard.objects.filter(subscription__in=subscriptions).order_by("subscription_id").first()
    if guard is None or not guard.protects(GuardedOperation.REVOKE_TOKEN):
        return
    if by is None:
        raise Refused(UNKNOWN_ACTOR.format(owner=owner, guard=guard.name), code="ActorUnknown")
    require_approval(
        by,
        guard.subscription_id,
        GuardedOperation.REVOKE_TOKEN,
        f"token:{owner.pk}:{prefix}",
        target_name=f"{prefix}… of {owner}",
        params={"user": owner.get_username(), "prefix": prefix},
        request_id=approval,
    )


@receiver(critical_change, sender=Vault)
def _guard_safeguard_change(sender, vault, operation: str, user, approval=None, **kwargs) -> None:
    """Turning soft delete off, disabling immutability: the guard's approval, when it protects the operation."""
    require_vault_approval(user, vault, GuardedOperation(operation), request_id=approval)
