from django.apps import AppConfig


class CompaniesConfig(AppConfig):
    name = "companies"

    def ready(self) -> None:
        from companies import signals  # noqa: F401  (connects cache invalidation)
        from companies.api import schema  # noqa: F401  (registers the OpenAPI auth extension)
