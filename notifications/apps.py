from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        from conversations.events import INBOUND_MESSAGE_RECORDED, MESSAGE_STATUS_CHANGED
        from notifications.campaigns import tracking

        MESSAGE_STATUS_CHANGED.subscribe(tracking.on_message_status_changed, when=tracking.is_campaigns)
        INBOUND_MESSAGE_RECORDED.subscribe(tracking.on_inbound_message_recorded)
