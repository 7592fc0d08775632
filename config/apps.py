"""App configs for the project package and for the branded admin site."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ConfigConfig(AppConfig):
    default = True
    name = "config"
    verbose_name = "Platform"


class AdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "config.admin_site.PonteAdminSite"
