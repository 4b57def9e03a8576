from django.apps import AppConfig


class VmsConfig(AppConfig):
    name = "backup.vms"
    label = "vms"

    def ready(self) -> None:
        from . import services

        services.register_jobs()
