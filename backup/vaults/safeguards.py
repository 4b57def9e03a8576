"""A vault's safeguards against losing backup data: soft delete and immutability.

Soft delete (Enabled, Disabled, Always on; 14-180 days): deleted backup data is kept, restorable after
UNDELETE, until its purge date. Turning it off is a critical operation (`disable_soft_delete`); "Always on"
can never be turned off, nor its period shortened.

Immutability (Disabled, Enabled, Locked): while enabled no operation may reduce protection, and Locked makes
that permanent. The operations that would (deleting unexpired backup data, a policy that keeps less, moving
an item to a policy that keeps less, shortening the soft-delete period) call `refuse_reduction` first.
Disabling immutability is a critical operation (`set_immutability` to Disabled); Locked never goes back.

Both critical operations are first put to the receivers of `critical_change` (vault, operation, user,
approval), which may refuse them by raising: the resource guard (backup.guard, an app above this one) asks
for an approved request there, so the portal, the API, the CLI and the admin all need one when it protects
the operation, and nothing changes when no guard does.

Every change here is a security event (`security_event`: the alerts app raises it, whatever the rules say).
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

from backup.jobs.errors import Refused

from .models import Vault

MIN_DAYS, MAX_DAYS = 14, 180

# Sent with vault, user, event (a key of EVENTS) and message, after the change is committed.
security_event = Signal()
EVENTS = ("soft_delete_disabled", "soft_delete_changed", "immutability_changed")
# Sent with vault, operation (one of CRITICAL), user and approval before a critical change; a receiver
# refuses it by raising (backup.guard.receivers: the resource guard's approval).
critical_change = Signal()
DISABLE_SOFT_DELETE, DISABLE_IMMUTABILITY = "disable_soft_delete", "disable_immutability"
CRITICAL = (DISABLE_SOFT_DELETE, DISABLE_IMMUTABILITY)

BAD_DAYS = f"The soft delete retention period must be a whole number of days from {MIN_DAYS} to {MAX_DAYS}."
ALWAYS_ON = (
    "Soft delete of the vault '{vault}' is always on - It was made irreversible and can no longer be "
    "turned off or shortened."
)
LOCKED = (
    "The vault '{vault}' is immutable and its immutability is locked - {what} would reduce the protection "
    "of its backup data, which a locked vault never allows."
)
ENABLED = (
    "The vault '{vault}' is immutable (immutability enabled) - {what} would reduce the protection of its "
    "backup data. Disable the vault's immutability first."
)
LOCKED_FOR_GOOD = "The immutability of the vault '{vault}' is locked and cannot be changed."
LOCK_NEEDS_ENABLED = "Enable the immutability of the vault '{vault}' first; only an enabled vault can be locked."
BAD_STATE = "Choose one of: {choices}."


def refuse_reduction(vault: Vault, what: str) -> None:
    """Refuse (Refused, naming the lock) an operation that would reduce protection, if the vault is immutable.
    `what` is the operation, capitalised, e.g. "Deleting the backup data of 'web01' before it expires"."""
    if vault.immutability == Vault.Immutability.LOCKED:
        raise Refused(LOCKED.format(vault=vault.name, what=what), code="VaultImmutabilityLocked")
    if vault.immutability == Vault.Immutability.ENABLED:
        raise Refused(
            ENABLED.format(vault=vault.name, what=what),
            "Disable immutability on the vault, then retry.",
            code="VaultImmutable",
        )


def _choice(value: str, choices, field: str) -> str:
    values = {c.value for c in choices}
    if value not in values:
        raise Refused(BAD_STATE.format(choices=", ".join(sorted(values))), field=field, code="BadValue")
    return value


def clean_days(value) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_DAYS <= value <= MAX_DAYS:
        raise Refused(BAD_DAYS, field="soft_delete_days", code="BadValue")
    return value


def _save(vault: Vault, user, event: str, message: str, **fields) -> Vault:
    with transaction.atomic():
        locked = Vault.objects.select_for_update().get(pk=vault.pk)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(fields))
        transaction.on_commit(
            lambda: security_event.send(sender=Vault, vault=locked, user=user, event=event, message=message)
        )
    for name, value in fields.items():
        setattr(vault, name, value)
    return locked


def _who(user) -> str:
    return user.get_username() if user is not None else "the portal"


def disable_soft_delete(vault: Vault, user=None, approval: int | str | None = None) -> Vault:
    """Turn soft delete off: data deleted from now on is deleted at once. A critical operation (a resource
    guard may need an approved request: `approval` names it, else the user's approved one is used)."""
    vault = Vault.objects.get(pk=vault.pk)
    if vault.soft_delete == Vault.SoftDelete.ALWAYS_ON:
        raise Refused(ALWAYS_ON.format(vault=vault.name), code="SoftDeleteAlwaysOn")
    if vault.soft_delete == Vault.SoftDelete.DISABLED:
        return vault
    refuse_reduction(vault, "Turning soft delete off")
    critical_change.send(sender=Vault, vault=vault, operation=DISABLE_SOFT_DELETE, user=user, approval=approval)
    return _save(
        vault,
        user,
        "soft_delete_disabled",
        f"Soft delete of the vault '{vault.name}' was turned off by {_who(user)}.",
        soft_delete=Vault.SoftDelete.DISABLED,
    )


def configure_soft_delete(
    vault: Vault, *, state: str | None = None, days=None, user=None, approval: int | str | None = None
) -> Vault:
    """The vault's soft-delete settings: state Enabled / Disabled / Always on, and the period in days.
    Turning it off goes through disable_soft_delete; a shorter period is a reduction (refused when immutable)."""
    vault = Vault.objects.get(pk=vault.pk)
    state = _choice(state, Vault.SoftDelete, "soft_delete") if state is not None else vault.soft_delete
    new_days = clean_days(days) if days is not None else vault.soft_delete_days
    always_on = vault.soft_delete == Vault.SoftDelete.ALWAYS_ON
    if always_on and (state != Vault.SoftDelete.ALWAYS_ON or new_days < vault.soft_delete_days):
        raise Refused(ALWAYS_ON.format(vault=vault.name), code="SoftDeleteAlwaysOn")
    if new_days < vault.soft_delete_days:
        refuse_reduction(vault, f"Shortening the soft delete period from {vault.soft_delete_days} to {new_days} days")
    if state == Vault.SoftDelete.DISABLED:
        if new_days != vault.soft_delete_days:
            vault = _save(
                vault,
                user,
                "soft_delete_changed",
                f"Soft delete period of '{vault.name}' set to {new_days} days by {_who(user)}.",
                soft_delete_days=new_days,
            )
        return disable_soft_delete(vault, user, approval)
    if state == vault.soft_delete and new_days == vault.soft_delete_days:
        return vault
    label = Vault.SoftDelete(state).label.lower()
    return _save(
        vault,
        user,
        "soft_delete_changed",
        f"Soft delete of the vault '{vault.name}' set to {label}, {new_days} days, by {_who(user)}.",
        soft_delete=state,
        soft_delete_days=new_days,
    )


def set_immutability(vault: Vault, state: str, user=None, approval: int | str | None = None) -> Vault:
    """Disabled <-> Enabled -> Locked. Disabling is a critical operation (a resource guard may need an
    approved request, as for disable_soft_delete); Locked is final."""
    vault = Vault.objects.get(pk=vault.pk)
    state = _choice(state, Vault.Immutability, "immutability")
    if state == vault.immutability:
        return vault
    if vault.immutability == Vault.Immutability.LOCKED:
        raise Refused(LOCKED_FOR_GOOD.format(vault=vault.name), code="VaultImmutabilityLocked")
    if state == Vault.Immutability.LOCKED and vault.immutability != Vault.Immutability.ENABLED:
        raise Refused(LOCK_NEEDS_ENABLED.format(vault=vault.name), field="immutability", code="BadValue")
    if state == Vault.Immutability.DISABLED:
        critical_change.send(sender=Vault, vault=vault, operation=DISABLE_IMMUTABILITY, user=user, approval=approval)
    label = Vault.Immutability(state).label.lower()
    return _save(
        vault,
        user,
        "immutability_changed",
        f"Immutability of the vault '{vault.name}' set to {label} by {_who(user)}.",
        immutability=state,
    )
