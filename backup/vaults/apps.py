from django.apps import AppConfig


class VaultsConfig(AppConfig):
    name = "backup.vaults"
    label = "vaults"

    def ready(self) -> None:
        from . import handlers  # noqa: F401  (registers job handlers with the jobs runner)
