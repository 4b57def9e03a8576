from ninja.errors import AuthenticationError
from ninja.security import HttpBearer

from .services import TokenExpired, user_for_token


class BearerToken(HttpBearer):
    """`Authorization: Bearer TOKEN`, with tokens from `manage.py issue_token USERNAME`."""

    def authenticate(self, request, token: str):
        try:
            user = user_for_token(token)
        except TokenExpired as expired:
            raise AuthenticationError(401, str(expired)) from None
        if user is not None:
            request.user = user
        return user
