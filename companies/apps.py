from django.apps import AppConfig


class CompaniesConfig(AppConfig):
    name = "companies"

    def ready(self) -> None:
        from companies import signals  # noqa: F401  (connects cache invalidation)
