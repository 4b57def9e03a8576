import json

from django.conf import settings
from django.contrib.auth.views import redirect_to_login

# Paths that must answer without a session: sign-in itself, static files and the icon, the API and /metrics
# (token auth).
OPEN_PREFIXES = ("/accounts/login/", "/static/", "/api/", "/admin/", "/healthz", "/metrics", "/favicon.ico")


class LoginRequiredMiddleware:
    """Every page needs sign-in, so a forgotten decorator can never expose a page."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if not request.user.is_authenticated and not request.path.startswith(OPEN_PREFIXES):
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)


# A NUL character reaches text fields only as these spellings: raw, URL-encoded, or escaped in JSON.
NUL_SPELLINGS = (b"\x00", b"%00", b"\\u0000")


class RejectNulMiddleware:
    """Refuse input holding a NUL character with a clear 400, whatever the form or endpoint.

    No name in this product may contain one, and PostgreSQL cannot even compare a text column with such a
    value: a query made from it fails instead of finding nothing. Refusing it at the door keeps every lookup
    that runs before a field's own validation safe.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "").encode("latin-1", "replace").lower()
        body = request.body.lower() if request.method in ("POST", "PUT", "PATCH", "DELETE") else b""
        if any(nul in query or nul in body for nul in NUL_SPELLINGS) or "\x00" in request.path:
            return _nul_refused(request)
        return self.get_response(request)


def _nul_refused(request):
    from django.http import HttpResponseBadRequest, JsonResponse

    message = "The input contains a NUL character, which no field accepts. Remove it and try again."
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message, "errors": {"__all__": [message]}}, status=400)
    return HttpResponseBadRequest(message)


NOT_AN_OBJECT = "the request body must be a JSON object"


class RequireJsonObjectBodyMiddleware:
    """Refuse an API request whose body is JSON but not an object (an array, a string, a number, null), for every
    endpoint at once. Such a body never matches an operation's input; left to each endpoint it was read as
    "no input" by some (a body of [false] stopped protection, [1] deleted a vault) instead of being refused."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/") and request.body.strip():
            try:
                body = json.loads(request.body)
            except ValueError:
                body = {}  # not JSON at all: the endpoint's own parser answers for it
            except RecursionError:
                body = None  # arrays nested thousands deep
            if not isinstance(body, dict):
                from django.http import JsonResponse

                message = f"Malformed request: {NOT_AN_OBJECT}."
                return JsonResponse({"detail": message, "errors": {"__all__": [message]}}, status=400)
        return self.get_response(request)
