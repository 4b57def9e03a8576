from django.apps import AppConfig


class VmsConfig(AppConfig):
    name = "backup.vms"
    label = "vms"

    def ready(self) -> None:
        from . import handlers  # noqa: F401  (registers job handlers with the jobs runner)
