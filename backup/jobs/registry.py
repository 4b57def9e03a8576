"""Which function runs which operation. Apps above jobs register their handlers at start-up,
so the jobs app can run any job without importing the apps that define them."""

from collections.abc import Callable

HANDLERS: dict[str, Callable] = {}
CANCELLABLE: set[str] = set()
# Called with the job after the reaper failed it: a killed worker never ran the handler's own clean-up.
# A hook may return a warning to say the job's work was done after all: the job then ends Completed with it.
ON_LOST: dict[str, Callable] = {}


def handler(
    operation: str, *, cancellable: bool = False, on_lost: Callable | None = None
) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        HANDLERS[operation] = fn
        if cancellable:
            CANCELLABLE.add(operation)
        if on_lost is not None:
            ON_LOST[operation] = on_lost
        return fn

    return register
