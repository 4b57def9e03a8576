"""Every Active vault without a policy gets its DefaultPolicy (daily 22:00 UTC, kept 30 days) and its beat
entry, as a vault now gets them when its creation ends; pages no longer create it when first opened."""

import json
from datetime import time

from django.db import migrations


def give_default_policies(apps, schema_editor):
    Vault = apps.get_model("vaults", "Vault")
    BackupPolicy = apps.get_model("vms", "BackupPolicy")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for vault in Vault.objects.filter(status="active", policies__isnull=True):
        policy = BackupPolicy.objects.create(vault=vault, name="DefaultPolicy", frequency="daily",
                                             time_of_day=time(22, 0), timezone="UTC", daily_retention_days=30)
        crontab, _ = CrontabSchedule.objects.get_or_create(minute="0", hour="22", day_of_week="*",
                                                           day_of_month="*", month_of_year="*", timezone="UTC")
        policy.periodic_task = PeriodicTask.objects.create(
            name=f"backup-policy-{policy.pk}", task="backup.vms.tasks.run_scheduled_backups", crontab=crontab,
            kwargs=json.dumps({"policy_id": policy.pk}), enabled=True,
            description=f"Backup policy '{policy.name}' of vault {vault.pk}")
        policy.save(update_fields=["periodic_task"])


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("vaults", "0001_initial"),
        ("vms", "0002_recovery_point_integrity"),
    ]

    operations = [migrations.RunPython(give_default_policies, migrations.RunPython.noop)]
