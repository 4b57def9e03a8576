"""The portal's one format of a moment, for texts written on the server (toasts, messages): "12/1/2026 3:10:39 PM
UTC". Pages show the same format in the browser's zone (portal/templatetags/portal_time.py and portal.js)."""

from datetime import UTC, datetime

from django.utils.safestring import SafeString, mark_safe


def moment_text(value: datetime) -> str:
    moment = value.astimezone(UTC)
    hour = moment.hour % 12 or 12
    return f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment:%M:%S} {'AM' if moment.hour < 12 else 'PM'} UTC"


def time_element(value: datetime) -> SafeString:
    """A moment on a page: a `<time>` element holding the ISO 8601 instant, its text in UTC until portal.js
    rewrites it into the browser's zone."""
    moment = value.astimezone(UTC)
    iso = moment.isoformat().replace("+00:00", "Z")
    # Both texts are digits, separators and ASCII letters only: nothing in them to escape (a Jobs page draws fifty).
    return mark_safe(f'<time datetime="{iso}" data-local-time>{moment_text(moment)}</time>')
