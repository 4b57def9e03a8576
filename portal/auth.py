"""The signed-in user, read by SQL built once per process.

Every page, poll and fragment reads the session's user; Django's `ModelBackend.get_user` builds that query
through the ORM each time, which cost more CPU than the database took to answer it. `ModelBackend` here is
Django's, with the same checks, reading the row with a `Prepared` query (backup/tenancy/prepared.py).

A session names the backend that signed its user in. Sessions from before name Django's backend, which is no
longer listed in settings.AUTHENTICATION_BACKENDS: `AuthenticationMiddleware` renames it in such a session
before the user is read, so nobody is signed out.
"""

from django.contrib.auth import BACKEND_SESSION_KEY, get_user_model
from django.contrib.auth import backends as django_backends
from django.contrib.auth import middleware as django_middleware
from django.utils.functional import SimpleLazyObject

from backup.tenancy.prepared import Prepared

DJANGO_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
MODEL_BACKEND = "portal.auth.ModelBackend"
_INT = range(-(2**31), 2**31)  # Django's user has a 32-bit key
_user_by_pk: Prepared | None = None


def _prepared_user_by_pk() -> Prepared:
    global _user_by_pk
    if _user_by_pk is None:
        model = get_user_model()
        _user_by_pk = Prepared(model, lambda pk: model._default_manager.filter(pk=pk).order_by()[:2], int)
    return _user_by_pk


class ModelBackend(django_backends.ModelBackend):
    def get_user(self, user_id):
        if type(user_id) is not int or user_id not in _INT:
            return super().get_user(user_id)  # any other key goes through the ORM, which decides as it always did
        found = _prepared_user_by_pk()(user_id)
        user = found[0] if len(found) == 1 else None
        return user if user is not None and self.user_can_authenticate(user) else None


class AuthenticationMiddleware(django_middleware.AuthenticationMiddleware):
    def process_request(self, request):
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: _session_user(request))


def _session_user(request):
    session = request.session
    if session.get(BACKEND_SESSION_KEY) == DJANGO_MODEL_BACKEND:
        session[BACKEND_SESSION_KEY] = MODEL_BACKEND
    return django_middleware.get_user(request)
