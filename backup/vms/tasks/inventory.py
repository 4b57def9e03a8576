"""Celery tasks; each calls one service."""

from celery import shared_task

from ..services import guest

__all__ = ["guest_writes"]


@shared_task(ignore_result=True)
def guest_writes(files: int = 3) -> dict[str, int]:
    """The periodic guest workload: a few files into every running machine."""
    return guest.run_guest_workload(files=files)
