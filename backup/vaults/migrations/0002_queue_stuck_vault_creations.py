from django.db import migrations
from django.utils import timezone


def queue_stuck_creations(apps, schema_editor):
    """Vaults left Creating by the former fire-and-forget provisioning get a Create Vault job; the requeue beat
    task sends it (it is older than the requeue delay), so they become Active instead of holding their name."""
    Vault = apps.get_model("vaults", "Vault")
    Job = apps.get_model("jobs", "Job")
    for vault in Vault.objects.filter(status="creating"):
        if Job.objects.filter(operation="create_vault", vault_id=vault.pk).exists():
            continue
        Job.objects.create(subscription_id=vault.subscription_id, operation="create_vault", item_name=vault.name,
                           item_type="vault", item_id=vault.pk, vault_id=vault.pk,
                           lock_key=f"vault:{vault.pk}:create", started_at=vault.created_at,
                           heartbeat_at=timezone.now())


class Migration(migrations.Migration):

    dependencies = [
        ("vaults", "0001_initial"),
        ("jobs", "0003_create_vault_operation"),
    ]

    operations = [migrations.RunPython(queue_stuck_creations, migrations.RunPython.noop)]
