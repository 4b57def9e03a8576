"""How the CLI's subcommands fail: the exit code of a refused or failed request, and service errors
(validation, refusals) turned into CommandErrors with the API's wording."""

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from backup.jobs.errors import Refused

JOB_FAILED = 1  # exit code: the job (or the request to start it) failed, or the input was refused


def invalid(error: ValidationError) -> CommandError:
    """Field errors as `field: message`, like the API's 400 answers."""
    errors = error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}
    return CommandError(
        "; ".join(
            f"{field}: {' '.join(msgs)}" if field != "__all__" else " ".join(msgs) for field, msgs in errors.items()
        )
    )


def refused(refusal: Refused) -> CommandError:
    return CommandError(refusal.message + (f" {refusal.action}" if refusal.action else ""), returncode=JOB_FAILED)
