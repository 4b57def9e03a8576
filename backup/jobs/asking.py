"""How an operation a resource guard protects asks for its approval, set by the caller: the API and the CLI
record a pending request at once (the default), the portal's dialogs ask first. It lives low (with Refused)
so that the views of every app above it can set it; backup.guard reads it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.core.exceptions import ValidationError

MAX_REASON = 500
REQUEST_REASON_NEEDED = "Give the reason for your request, so that the security role can decide it."

# None: record a request at once; "": record none (the dialog offers "Request approval"); else the reason.
_request_reason: ContextVar[str | None] = ContextVar("guard_request_reason", default=None)


def request_reason() -> str | None:
    return _request_reason.get()


@contextmanager
def asking_first(reason: str | None) -> Iterator[None]:
    """Run a guarded operation the portal's way: without an approval it is refused with no request recorded,
    unless `reason` is given (the dialog's REQUEST APPROVAL), which records the request with it."""
    token = _request_reason.set((reason or "").strip())
    try:
        yield
    finally:
        _request_reason.reset(token)


def needs_approval(error: ValidationError) -> bool:
    """A refusal of backup.guard's: the operation waits for an approval (its `request`, None until asked)."""
    return getattr(error, "code", None) == "ApprovalRequired"


def in_dialog(data, run: Callable[[], list[ValidationError]]) -> tuple[list[ValidationError], dict]:
    """Run a dialog's operation (`run` returns the refusals it met) asking first, or with the reason the
    dialog's REQUEST APPROVAL sent. Returns the refusals and the dialog's approval box: `ask` (offer REQUEST
    APPROVAL), `waiting` (every refusal has its request), `reason`, `error` (of the reason)."""
    reason = data.get("approval_reason", "").strip() if data.get("request_approval") == "yes" else None
    if reason is not None and not reason:
        return [], {"ask": True, "reason": "", "error": REQUEST_REASON_NEEDED}
    if reason is not None and len(reason) > MAX_REASON:
        return [], {"ask": True, "reason": reason, "error": f"At most {MAX_REASON} characters."}
    with asking_first(reason):
        errors = run()
    needed = [e for e in errors if needs_approval(e)]
    return errors, {
        "ask": any(getattr(e, "request", None) is None for e in needed),
        "waiting": bool(needed) and all(getattr(e, "request", None) is not None for e in needed),
        "reason": reason or "",
        "error": "",
    }
