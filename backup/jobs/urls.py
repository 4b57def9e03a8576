from django.urls import path

from . import views

urlpatterns = [
    path("<int:pk>/", views.job_detail, name="job-detail"),
    path("<int:pk>/row/", views.job_row, name="job-row"),
    path("<int:pk>/cancel/", views.cancel, name="job-cancel"),
]
