from django.urls import path

from . import views

urlpatterns = [
    path("", views.billing, name="billing"),
    path("bill.csv", views.billing_csv, name="billing-csv"),
    path("rules/", views.billing_rules, name="billing-rules"),
    path("vaults/<int:pk>/estimate/", views.vault_estimate, name="billing-vault-estimate"),
]
