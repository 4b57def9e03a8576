"""The JSON API's one error body, for every app's router (it lives in the bottom layer so all of them can
import it): `detail` is the message to show, `errors` the messages by field ("__all__" for the request as a
whole). A request with bad fields answers 400 with both; an operation a resource guard protects answers 403
with `approval_request` too (the request a member of the guard's role must approve first); a refused operation
on something that exists (another operation holds it, the vault is not Active) answers 409 with `detail` only."""

from django.core.exceptions import ValidationError
from ninja import Schema, Status
from pydantic import model_serializer


class ErrorOut(Schema):
    detail: str
    errors: dict[str, list[str]] = {}

    @model_serializer(mode="wrap")
    def _without_empty_errors(self, serialize):
        # A 409 names no field: its body is {"detail": ...} alone, not an empty "errors" beside it.
        body = serialize(self)
        if not body.get("errors"):
            body.pop("errors", None)
        return body


def field_errors(errors: dict[str, list[str]]) -> Status:
    """400 with every field's messages; the first one is the `detail`."""
    return Status(400, {"detail": next(iter(errors.values()))[0], "errors": errors})


def bad_request(error: ValidationError) -> Status:
    """400 for a request a service refused or found invalid."""
    return field_errors(error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages})


class ApprovalNeededOut(ErrorOut):
    approval_request: int | None = None


def refused(error: ValidationError) -> Status:
    """What a guarded endpoint answers when its service refused: 403 naming the request to approve when a
    resource guard needs one (backup.guard's ApprovalRequired, which carries it), else 400."""
    request = getattr(error, "request", None)
    if getattr(error, "code", None) == "ApprovalRequired" and request is not None:
        return Status(403, {"detail": error.message, "approval_request": request.pk})
    return bad_request(error)


def conflict(error: ValidationError) -> Status:
    """409 for an operation refused in the state its object is in."""
    return Status(409, {"detail": error.messages[0]})
