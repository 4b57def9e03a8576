from django.db import connections, router
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


def unread_count(user) -> int:
    """`Notification.objects.for_user(user).unread().count()`, as one plain query: the shell of every page shows
    it, and building the COUNT through the ORM cost more CPU than the database took to answer it."""
    if not user.is_authenticated:
        return 0
    connection = connections[router.db_for_read(Notification)]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {quote(Notification._meta.db_table)} "
            f"WHERE {quote('user_id')} = %s AND {quote('read_at')} IS NULL",
            [user.pk],
        )
        return cursor.fetchone()[0]


def mark_all_read(user) -> int:
    return Notification.objects.for_user(user).unread().update(read_at=timezone.now())


def dismiss(user, pk: int) -> int:
    return Notification.objects.for_user(user).filter(pk=pk).update(dismissed=True, read_at=timezone.now())
