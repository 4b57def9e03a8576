from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "backup.notifications"
    label = "notifications"
