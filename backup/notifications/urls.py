from django.urls import path

from . import views

urlpatterns = [
    path("toasts/", views.toasts, name="notifications-toasts"),
    path("panel/", views.panel, name="notifications-panel"),
    path("<int:pk>/dismiss/", views.dismiss, name="notifications-dismiss"),
]
