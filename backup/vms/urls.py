from django.urls import path

from .views import backups, dashboard, inventory, item, manage, policies, protected, registered, restore, security

urlpatterns = [
    path("vms/", inventory.vm_list, name="vm-list"),
    path("vms/<int:pk>/", inventory.vm_detail, name="vm-detail"),
    path("cloud-services/", inventory.cloud_service_list, name="cloud-service-list"),
    path("storage/", inventory.storage_list, name="storage-list"),
    # Vault tabs of the Discover -> Register -> Protect flow.
    path("vaults/<int:pk>/registered/", registered.registered_items, name="vault-registered"),
    path("vaults/<int:pk>/registered/<int:item_pk>/row/", registered.registered_row, name="vault-registered-row"),
    path("vaults/<int:pk>/registered/discover/", registered.discover, name="vault-discover"),
    path("vaults/<int:pk>/registered/discovery/", registered.discovery_status, name="vault-discovery-status"),
    path("vaults/<int:pk>/registered/register/", registered.register, name="vault-register"),
    path("vaults/<int:pk>/protected/", protected.protected_items, name="vault-protected"),
    path("vaults/<int:pk>/protected/protect/", protected.protect, name="vault-protect"),
    path("vaults/<int:pk>/policies/", policies.policy_list, name="vault-policies"),
    path("vaults/<int:pk>/policies/new/", policies.policy_create, name="vault-policy-create"),
    path("vaults/<int:pk>/policies/<int:policy_pk>/edit/", policies.policy_edit, name="vault-policy-edit"),
    path("vaults/<int:pk>/policies/<int:policy_pk>/delete/", policies.policy_delete, name="vault-policy-delete"),
    # Backups, the JOBS tab and the DASHBOARD.
    path("vaults/<int:pk>/protected/backup/", backups.back_up_now, name="vault-backup-now"),
    path("vaults/<int:pk>/jobs/", dashboard.vault_jobs, name="vault-jobs"),
    path("vaults/<int:pk>/dashboard/", dashboard.vault_dashboard, name="vault-dashboard"),
    # Restore and manage.
    path("vaults/<int:pk>/protected/<int:item_pk>/", item.item_detail, name="vault-protected-item"),
    path("vaults/<int:pk>/protected/restore/", restore.restore_wizard, name="vault-restore"),
    path("vaults/<int:pk>/protected/restore/calendar/", restore.restore_calendar, name="vault-restore-calendar"),
    path("vaults/<int:pk>/protected/stop/", manage.stop_protection, name="vault-stop-protection"),
    path("vaults/<int:pk>/protected/delete-data/", manage.delete_backup_data, name="vault-delete-backup-data"),
    path("vaults/<int:pk>/protected/undelete/", manage.undelete, name="vault-undelete"),
    path("vaults/<int:pk>/registered/unregister/", manage.unregister, name="vault-unregister"),
    path("vaults/<int:pk>/delete/", manage.delete_vault, name="vault-delete"),
    # SECURITY: approval requests of resource guards, suspicious recovery points.
    path("security/", security.security, name="security"),
    path("security/requests/<int:request_pk>/", security.decide_request, name="security-decide-request"),
    path("security/suspicious/<int:anomaly_pk>/", security.decide_point, name="security-decide-point"),
]
