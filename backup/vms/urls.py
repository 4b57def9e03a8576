from django.urls import path

from . import views

urlpatterns = [
    path("vms/", views.vm_list, name="vm-list"),
    path("cloud-services/", views.cloud_service_list, name="cloud-service-list"),
    path("storage/", views.storage_list, name="storage-list"),
]
