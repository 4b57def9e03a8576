from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "backup.jobs"
    label = "jobs"
