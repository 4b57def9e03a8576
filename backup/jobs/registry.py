"""Which function runs which operation. Apps above jobs register their handlers at start-up,
so the jobs app can run any job without importing the apps that define them."""

from collections.abc import Callable

HANDLERS: dict[str, Callable] = {}
CANCELLABLE: set[str] = set()


def handler(operation: str, *, cancellable: bool = False) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        HANDLERS[operation] = fn
        if cancellable:
            CANCELLABLE.add(operation)
        return fn

    return register
