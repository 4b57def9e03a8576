from django.apps import AppConfig


class VaultsConfig(AppConfig):
    name = "backup.vaults"
    label = "vaults"
