from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "backup.alerts"
    label = "alerts"

    def ready(self) -> None:
        from .services import guard_events, receivers  # noqa: F401  (watch jobs, policies, points and guards)
