"""Which function runs which operation, and which cleans up after it. Apps above jobs register their handlers
at start-up, so the jobs app can run any job without importing the apps that define them."""

from collections.abc import Callable

HANDLERS: dict[str, Callable] = {}
CANCELLABLE: set[str] = set()
# Called with the job once it ended other than Completed: failed, cancelled, or its worker or database lost
# (then the handler never got to its own end). A clean-up may return a warning to say the job's work was done
# after all: the job then ends Completed with it.
CLEAN_UPS: dict[str, Callable] = {}


def handler(
    operation: str, *, cancellable: bool = False, clean_up: Callable | None = None
) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        HANDLERS[operation] = fn
        if cancellable:
            CANCELLABLE.add(operation)
        if clean_up is not None:
            CLEAN_UPS[operation] = clean_up
        return fn

    return register
