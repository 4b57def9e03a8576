"""The operators' groups and their permissions.

"Operators" may do everything with the project's models in the admin (history stays read-only, as the
ModelAdmins say); "Support" may only look. The groups are created by a migration
(tenancy/0002_operator_groups); their permissions are (re)assigned after every `migrate`, once the
permissions of every app exist, so a model added later is covered without a new migration.
"""

from django.contrib.auth.models import Group, Permission

OPERATORS = "Operators"
SUPPORT = "Support"
PROJECT_APPS = (
    "tenancy",
    "notifications",
    "jobs",
    "vaults",
    "vms",
    "billing",
    "alerts",
    "drills",
    "django_celery_beat",
)
# Operators and Support see who the users are, but only superusers manage accounts.
EXTRA_VIEW = (("auth", "view_user"), ("auth", "view_group"))


def sync_operator_groups(**kwargs) -> None:
    """post_migrate receiver; idempotent."""
    project = Permission.objects.filter(content_type__app_label__in=PROJECT_APPS)
    views = [
        p
        for p in Permission.objects.filter(codename__startswith="view_").select_related("content_type")
        if p.content_type.app_label in PROJECT_APPS or (p.content_type.app_label, p.codename) in EXTRA_VIEW
    ]
    operators, _ = Group.objects.get_or_create(name=OPERATORS)
    operators.permissions.set(list(project) + [p for p in views if p.content_type.app_label == "auth"])
    support, _ = Group.objects.get_or_create(name=SUPPORT)
    support.permissions.set(views)
