from django.apps import AppConfig


class VaultsConfig(AppConfig):
    name = "backup.vaults"
    label = "vaults"

    def ready(self) -> None:
        from . import services  # noqa: F401  (declares the Create Vault job with the jobs runner)
