"""App configs for the project package and for the branded admin site."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps

from config.celery import app as celery_app


class ConfigConfig(AppConfig):
    default = True
    name = "config"
    verbose_name = "Platform"

    def ready(self) -> None:
        # Every app's tasks registered in every process (web, workers, shells): services publish tasks by
        # name (config.queues), and a registered task also runs in place when tasks are eager.
        celery_app.autodiscover_tasks(force=True)


class AdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "config.admin_site.PonteAdminSite"
