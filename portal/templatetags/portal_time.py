"""One way to show a moment in the portal: `{{ value|when }}` is a `<time>` element holding the ISO 8601 instant,
which portal.js rewrites into the browser's zone with its offset ("12/1/2026 4:10:39 PM UTC+01:00"). Without
script the same format is shown in UTC, and says so."""

from datetime import UTC, datetime

from django import template
from django.utils.html import format_html

from backup.notifications.times import moment_text as as_text

register = template.Library()


@register.filter
def when(value):
    if not isinstance(value, datetime):
        return "—" if value in (None, "") else value
    iso = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return format_html('<time datetime="{}" data-local-time>{}</time>', iso, as_text(value))


@register.filter
def when_text(value):
    """For attributes (a title) and plain text, where no element can be rewritten."""
    return as_text(value) if isinstance(value, datetime) else ""
