from django.apps import AppConfig


class TemplatesMetaConfig(AppConfig):
    name = "templates_meta"
    verbose_name = "Meta templates"

    def ready(self) -> None:
        from conversations.services.inbound import ACCOUNT_NOTICE_HANDLERS
        from templates_meta.services import NOTICE_HANDLERS

        # The inbound pipeline stores Meta's template webhooks; these handlers update the rows.
        ACCOUNT_NOTICE_HANDLERS.update(NOTICE_HANDLERS)
