class JobFailed(Exception):
    """An explained failure: the job ends Failed with this message and recommended action."""

    def __init__(self, message: str, action: str = "", code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.action = action
        self.code = code


class JobCancelled(Exception):
    """Raised inside a handler when the user asked to cancel; the job ends Cancelled."""


ANOTHER_OPERATION_IN_PROGRESS = (
    "Command execution failed - Another operation is in progress on this item. "
    "Please wait until the previous operation is completed."
)
WORKER_LOST = "The worker running this job stopped before the job finished (the process was killed or restarted)."
WORKER_LOST_ACTION = "Retry the operation. Data already in the vault is safe; no partial recovery point was kept."
INTERNAL_ERROR = (
    "Microsoft Azure Backup encountered an internal error - Wait for a few minutes and then try the operation "
    "again. If the issue persists, contact Microsoft Support."
)
