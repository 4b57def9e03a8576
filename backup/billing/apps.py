from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "backup.billing"
    label = "billing"
