from datetime import datetime

from ninja import Router, Schema

from .models import Notification

router = Router(tags=["notifications"])


class NotificationOut(Schema):
    id: int
    title: str
    message: str
    level: str
    link_url: str
    created_at: datetime
    updated_at: datetime
    read: bool


@router.get("/notifications", response=list[NotificationOut])
def list_notifications(request, unread: bool = False, limit: int = 50):
    notes = Notification.objects.for_user(request.auth)
    if unread:
        notes = notes.unread()
    limit = max(1, min(limit, 200))
    return [
        NotificationOut(
            id=n.pk,
            title=n.title,
            message=n.message,
            level=n.level,
            link_url=n.link_url,
            created_at=n.created_at,
            updated_at=n.updated_at,
            read=n.read_at is not None,
        )
        for n in notes[:limit]
    ]
