"""The portal's one format of a moment, for texts written on the server (toasts, messages): "12/1/2026 3:10:39 PM
UTC". Pages show the same format in the browser's zone (portal/templatetags/portal_time.py and portal.js)."""

from datetime import UTC, datetime


def moment_text(value: datetime) -> str:
    moment = value.astimezone(UTC)
    hour = moment.hour % 12 or 12
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment:%M:%S} {'AM' if moment.hour < 12 else 'PM'} UTC"
