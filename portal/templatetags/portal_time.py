"""One way to show a moment in the portal: `{{ value|when }}` is a `<time>` element holding the ISO 8601 instant,
which portal.js rewrites into the browser's zone with its offset ("12/1/2026 4:10:39 PM UTC+01:00"). Without
script the same format is shown in UTC, and says so."""

from datetime import datetime

from django import template

from backup.notifications.times import moment_text as as_text
from backup.notifications.times import time_element

register = template.Library()


@register.filter
def when(value):
    if not isinstance(value, datetime):
        return "—" if value in (None, "") else value
    return time_element(value)


@register.filter
def when_text(value):
    """For attributes (a title) and plain text, where no element can be rewritten."""
    return as_text(value) if isinstance(value, datetime) else ""
