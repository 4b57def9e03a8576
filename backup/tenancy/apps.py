from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TenancyConfig(AppConfig):
    name = "backup.tenancy"
    label = "tenancy"

    def ready(self) -> None:
        from .signals import sync_operator_groups

        # Not limited to this app's sender: the permissions of apps migrated after tenancy must exist first.
        post_migrate.connect(sync_operator_groups, dispatch_uid="tenancy-operator-groups")
