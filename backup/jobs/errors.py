import re

from django.core.exceptions import ValidationError


class JobFailed(Exception):
    """An explained failure: the job ends Failed with this message and recommended action."""

    def __init__(self, message: str, action: str = "", code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.action = action
        self.code = code


class Refused(ValidationError):
    """This request is refused; `message` is the product's text, shown as is (API 400, CLI exit 1, form error)."""

    def __init__(self, message: str, action: str = "", code: str = "", field: str | None = None) -> None:
        super().__init__({field: message} if field else message, code=code or None)
        self.message, self.action, self.code, self.field = message, action, code, field


class JobCancelled(Exception):
    """Raised inside a handler when the user asked to cancel; the job ends Cancelled."""


# The product's "another operation is in progress" and internal-error texts differ per operation
# (its error table): each is kept verbatim, punctuation and typos included.
ANOTHER_OPERATION_IN_PROGRESS = (
    "Command execution failed - Another operation is in progress on this item. "
    "Please wait until the previous operation is completed."
)
REGISTER_BUSY = (
    "Command execution failed - Another operation is in progress on this item. "
    "Please wait until the previous operation is completed"
)
BACKUP_BUSY = (
    "Command execution failed - Another operation is currently in progress on this item. "
    "Please wait until the previous operation is completed, and then retry"
)
DISCOVERY_BUSY = (
    "Failed to discover new items \u2013 Another Discovery operation is already in progress. "
    "Please wait until the current Discovery operation has completed."
)
BUSY_MESSAGES = {"discovery": DISCOVERY_BUSY, "register": REGISTER_BUSY, "backup": BACKUP_BUSY}
BUSY_ACTION = "Wait until the running operation on this item has completed, then try again."

CANCEL_NOT_IN_PROGRESS = (
    "Cannot cancel the job because it is not in progress - Cancellation is only supported for jobs which are in "
    "progress. Please attempt cancel on an in progress job."
)
CANCEL_NOT_SUPPORTED = "Cancellation is not supported for this job type - Please wait until the job completes."
CANCEL_NOT_NOW = "The job is not in a cancellable state - Please wait until the job completes."
# Error codes of a job whose handler stopped before it could end the job itself.
LOST_CODES = ("WorkerLost", "DatabaseConnectionLost")
WORKER_LOST = "The worker running this job stopped before the job finished (the process was killed or restarted)."
WORKER_LOST_ACTION = "Retry the operation. Data already in the vault is safe; no partial recovery point was kept."
DATABASE_LOST = (
    "The job lost its connection to the database before it finished, so the portal could not record its "
    "progress; the job was stopped."
)
DATABASE_LOST_ACTION = "Retry the operation. If it happens again, check that the database server is reachable."
INTERNAL_ERROR = (
    "Microsoft Azure Backup encountered an internal error - Wait for a few minutes and then try the operation "
    "again. If the issue persists, contact Microsoft Support."
)
DISCOVERY_INTERNAL_ERROR = (
    "Failed to discover new items - Microsoft Azure Backup encountered and internal error. Wait for a few minutes "
    "and then try the operation again."
)
BACKUP_INTERNAL_ERROR = (
    "Backup failed with an internal error - Please retry the operation in a few minutes. If the problem persists, "
    "contact Microsoft Support"
)
INTERNAL_ERRORS = {"discovery": DISCOVERY_INTERNAL_ERROR, "backup": BACKUP_INTERNAL_ERROR}


def busy_message_for(operation: str) -> str:
    return BUSY_MESSAGES.get(operation, ANOTHER_OPERATION_IN_PROGRESS)


def internal_error_for(operation: str) -> str:
    return INTERNAL_ERRORS.get(operation, INTERNAL_ERROR)


# An absolute path: a slash that starts a word, followed by path characters.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/[^\s'\"(),;:]+")


def describe(exc: BaseException) -> str:
    """An exception as a user may read it: an OSError by its reason only ("Read-only file system"), any other
    text with the server paths in it left out. Where the data lives on the server is never shown."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = _ABSOLUTE_PATH.sub("(server path)", str(exc))
    return text or type(exc).__name__
