from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "backup.billing"
    label = "billing"

    def ready(self) -> None:
        from .services import receivers  # noqa: F401  (meters an item when its backup ends)
