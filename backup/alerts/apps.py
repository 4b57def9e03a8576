from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "backup.alerts"
    label = "alerts"

    def ready(self) -> None:
        from .services import receivers  # noqa: F401  (watches jobs, policies and points)
