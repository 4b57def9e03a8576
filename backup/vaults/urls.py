from django.urls import path

from . import views

urlpatterns = [
    path("", views.vault_list, name="vault-list"),
    path("new/", views.quick_create, name="vault-quick-create"),
    path("<int:pk>/", views.quickstart, name="vault-quickstart"),
    path("<int:pk>/row/", views.vault_row, name="vault-row"),
    path("<int:pk>/configure/", views.configure, name="vault-configure"),
    path("<int:pk>/dashboard/", views.coming_tab, {"tab": "dashboard"}, name="vault-dashboard"),
    path("<int:pk>/registered/", views.coming_tab, {"tab": "registered"}, name="vault-registered"),
    path("<int:pk>/protected/", views.coming_tab, {"tab": "protected"}, name="vault-protected"),
    path("<int:pk>/policies/", views.coming_tab, {"tab": "policies"}, name="vault-policies"),
    path("<int:pk>/jobs/", views.coming_tab, {"tab": "jobs"}, name="vault-jobs"),
]
