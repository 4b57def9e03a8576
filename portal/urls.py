from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import admin_views, metrics, views
from .api import api

urlpatterns = [
    path("", views.home, name="home"),
    path("new/", views.new_menu, name="new-menu"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="portal/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/overview/", admin.site.admin_view(admin_views.overview), name="admin-overview"),
    path(
        "admin/overview/recompute-usage/",
        admin.site.admin_view(admin_views.recompute_usage),
        name="admin-recompute-usage",
    ),
    path("admin/", admin.site.urls),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/v1/", api.urls),
    path("vaults/", include("backup.vaults.urls")),
    path("vaults/", include("backup.alerts.urls")),
    path("vaults/", include("backup.drills.urls")),
    path("jobs/", include("backup.jobs.urls")),
    path("notifications/", include("backup.notifications.urls")),
    path("", include("backup.vms.urls")),
    path("billing/", include("backup.billing.urls")),
]
