"""Sign-in lockout page and the Content-Security-Policy middleware (settings: AXES_*, CONTENT_SECURITY_POLICY)."""

import shlex

from axes.helpers import get_client_ip_address, get_cool_off
from csp.middleware import CSPMiddleware, PolicyParts
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render

LOCKED_OUT = (
    "Too many failed sign-in attempts. Sign-in as this user from this address is locked for {minutes} minutes; "
    "try again later or ask an administrator to unlock it (manage.py axes_reset_ip_username {address} {username})."
)


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' lockout: the sign-in page again, with the reason, and 429 Too Many Requests."""
    cool_off = get_cool_off(request)
    minutes = int(cool_off.total_seconds() // 60) if cool_off else 15
    username = (credentials or {}).get("username", "")
    # The lock holds for this user name at this address only (AXES_LOCKOUT_PARAMETERS), so the command that
    # lifts it names both, quoted to be pasted into a shell as it is.
    address = getattr(request, "axes_ip_address", None) or get_client_ip_address(request) or "ADDRESS"
    message = LOCKED_OUT.format(minutes=minutes, address=shlex.quote(address), username=shlex.quote(username or "NAME"))
    form = AuthenticationForm(request, initial={"username": username})
    context = {"form": form, "locked_out": message, "next": request.GET.get("next", "")}
    return render(request, "portal/login.html", context, status=429)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """The policy of settings.CONTENT_SECURITY_POLICY everywhere; Django's admin pages (and the operators'
    admin templates) keep inline style attributes, so there only styles may also be inline. Scripts never."""

    def get_policy_parts(self, request, response, report_only=False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if request.path_info.startswith("/admin/") and not report_only:
            parts.update = (parts.update or {}) | {"style-src": ["'unsafe-inline'"]}
        return parts
