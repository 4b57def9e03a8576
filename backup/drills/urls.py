from django.urls import path

from . import views

urlpatterns = [
    path("<int:pk>/drills/", views.vault_drills, name="vault-drills"),
]
