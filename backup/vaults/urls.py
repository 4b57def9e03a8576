from django.urls import path

from . import views

urlpatterns = [
    path("", views.vault_list, name="vault-list"),
    path("new/", views.quick_create, name="vault-quick-create"),
    path("<int:pk>/", views.quickstart, name="vault-quickstart"),
    path("<int:pk>/row/", views.vault_row, name="vault-row"),
    path("<int:pk>/configure/", views.configure, name="vault-configure"),
    path("<int:pk>/configure/security/", views.security, name="vault-security"),
    # vault-registered, vault-protected and vault-policies live in backup/vms/urls.py (the vms app is
    # above vaults, so vaults cannot import its views).
    # vault-dashboard and vault-jobs live in backup/vms/urls.py too (views/dashboard.py).
]
