from django.urls import path

from . import views

urlpatterns = [
    path("<int:pk>/alerts/", views.vault_alerts, name="vault-alerts"),
    path("<int:pk>/alerts/tile/", views.vault_alerts_tile, name="vault-alerts-tile"),
]
