"""Thin Celery tasks over the services: the periodic checks, and sending deliveries (at once, and when due)."""

from celery import shared_task

from .services import checks, delivery


@shared_task(name="backup.alerts.tasks.evaluate_alerts", ignore_result=True)
def evaluate_alerts() -> int:
    return checks.evaluate()


@shared_task(name="backup.alerts.tasks.deliver_alert", ignore_result=True)
def deliver_alert(delivery_id: int) -> bool:
    return delivery.send(delivery_id)


@shared_task(name="backup.alerts.tasks.deliver_due_alerts", ignore_result=True)
def deliver_due_alerts() -> int:
    return sum(delivery.send(pk) for pk in delivery.due_ids())
