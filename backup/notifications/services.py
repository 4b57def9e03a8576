from django.utils import timezone

from .models import Notification


def notify(
    user,
    title: str,
    *,
    message: str = "",
    level: str = Notification.Level.INFO,
    key: str = "",
    subscription=None,
    link_url: str = "",
    link_label: str = "",
) -> Notification:
    """Create a notification, or update the one with the same key, and show it again as a toast."""
    fields = {
        "title": title,
        "message": message,
        "level": level,
        "subscription": subscription,
        "link_url": link_url,
        "link_label": link_label,
        "updated_at": timezone.now(),
        "read_at": None,
        "dismissed": False,
    }
    if key:
        note, _ = Notification.objects.update_or_create(user=user, key=key, defaults=fields)
        return note
    return Notification.objects.create(user=user, **fields)


def notify_members(subscription, title: str, **kwargs) -> None:
    """Tell every member of a subscription, for work nobody in particular started (schedules)."""
    for membership in subscription.memberships.select_related("user"):
        notify(membership.user, title, subscription=subscription, **kwargs)


def mark_all_read(user) -> int:
    return Notification.objects.for_user(user).unread().update(read_at=timezone.now())


def dismiss(user, pk: int) -> int:
    return Notification.objects.for_user(user).filter(pk=pk).update(dismissed=True, read_at=timezone.now())
