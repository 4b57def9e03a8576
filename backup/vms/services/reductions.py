"""What reduces protection, for an immutable vault to refuse (backup.vaults.safeguards.refuse_reduction):
deleting backup data before it expires, a policy that keeps less, moving an item to a policy that keeps less."""

from __future__ import annotations

from backup.vaults.safeguards import refuse_reduction

from ..models import BackupPolicy, ProtectedItem
from .policy_retention import describe_retention, retention_reduced

RETENTION_FIELDS = (
    ("daily_retention_days", "daily", "days"),
    ("weekly_retention_weeks", "weekly", "weeks"),
    ("monthly_retention_months", "monthly", "months"),
    ("yearly_retention_years", "yearly", "years"),
)


def retention_reductions(before, after) -> list[str]:
    """How `after` keeps less than `before` (policies, or anything with their retention attributes or keys),
    e.g. ["daily 30 days -> 7 days"]; empty when it keeps as much or more."""

    def value(policy, field):
        return policy.get(field) if isinstance(policy, dict) else getattr(policy, field, None)

    less = []
    for field, label, unit in RETENTION_FIELDS:
        old, new = value(before, field), value(after, field)
        if old and (not new or new < old):
            less.append(f"{label} {old} {unit} -> {f'{new} {unit}' if new else 'not kept'}")
    if not less and retention_reduced(before, after):
        if isinstance(before, dict) or isinstance(after, dict):
            less.append("the same durations on fewer or other days")
        else:  # say which rules changed
            now = set(describe_retention(after))
            less = [
                f"{rule} -> {new}"
                for rule, new in zip(describe_retention(before), describe_retention(after), strict=False)
                if rule not in now
            ] or ["the same durations on fewer or other days"]
    return less


def refuse_policy_change(policy: BackupPolicy, new_values: dict) -> None:
    less = retention_reductions(policy, new_values)
    if less:
        refuse_reduction(policy.vault, f"Changing the policy '{policy.name}' to keep less ({'; '.join(less)})")


def refuse_policy_move(item: ProtectedItem, policy: BackupPolicy) -> None:
    """An item with recovery points moved from its policy to one that keeps less."""
    if item.policy is None or item.policy_id == policy.pk or not item.recovery_points.exists():
        return
    less = retention_reductions(item.policy, policy)
    if less:
        refuse_reduction(
            item.vault,
            f"Moving '{item}' from the policy '{item.policy.name}' to '{policy.name}' ({'; '.join(less)})",
        )


def refuse_data_deletion(item: ProtectedItem) -> None:
    """Deleting an item's backup data while any of its points has not expired. A stopped item's points never
    expire (the product keeps them until deleted), so on an immutable vault only an item without points may go."""
    if item.recovery_points.exists():
        refuse_reduction(item.vault, f"Deleting the backup data of '{item}' before it expires")
