from django.apps import AppConfig


class DrillsConfig(AppConfig):
    name = "backup.drills"
    label = "drills"

    def ready(self) -> None:
        from . import services  # noqa: F401  (declares the Restore Drill job with the jobs runner)
