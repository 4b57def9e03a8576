from django.apps import AppConfig


class VmsConfig(AppConfig):
    name = "backup.vms"
    label = "vms"
