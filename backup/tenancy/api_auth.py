from ninja.security import HttpBearer

from .services import user_for_token


class BearerToken(HttpBearer):
    """`Authorization: Bearer TOKEN`, with tokens from `manage.py issue_token USERNAME`."""

    def authenticate(self, request, token: str):
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user
