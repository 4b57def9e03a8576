from celery import shared_task

from . import services


@shared_task(acks_late=True)
def provision_vault(vault_id: int) -> None:
    services.provision_vault(vault_id)
