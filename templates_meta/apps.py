from django.apps import AppConfig


class TemplatesMetaConfig(AppConfig):
    name = "templates_meta"
    verbose_name = "Meta templates"
