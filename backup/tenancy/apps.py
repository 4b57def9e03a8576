from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "backup.tenancy"
    label = "tenancy"
