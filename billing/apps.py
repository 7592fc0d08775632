from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        # Spend hears of the conversation core by its events: queued Cloud messages (estimates) and receipts.
        from billing import handlers
        from conversations.events import MESSAGE_QUEUED, MESSAGE_STATUS_CHANGED

        MESSAGE_QUEUED.subscribe(handlers.on_message_queued)
        MESSAGE_STATUS_CHANGED.subscribe(handlers.on_status_changed, when=handlers.wants_status)
