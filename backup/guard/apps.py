from django.apps import AppConfig


class GuardConfig(AppConfig):
    name = "backup.guard"
    label = "guard"
    verbose_name = "Resource guards"

    def ready(self) -> None:
        from . import receivers  # noqa: F401  (guards the revocation of another user's token)
