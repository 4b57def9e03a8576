from django.urls import path

from .views import inventory

urlpatterns = [
    path("vms/", inventory.vm_list, name="vm-list"),
    path("cloud-services/", inventory.cloud_service_list, name="cloud-service-list"),
    path("storage/", inventory.storage_list, name="storage-list"),
]
