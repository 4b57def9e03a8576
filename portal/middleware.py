from django.conf import settings
from django.contrib.auth.views import redirect_to_login

# Paths that must answer without a session: sign-in itself, static files, the API and /metrics (token auth).
OPEN_PREFIXES = ("/accounts/login/", "/static/", "/api/", "/admin/", "/healthz", "/metrics")


class LoginRequiredMiddleware:
    """Every page needs sign-in, so a forgotten decorator can never expose a page."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if not request.user.is_authenticated and not request.path.startswith(OPEN_PREFIXES):
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)
