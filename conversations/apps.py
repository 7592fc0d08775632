from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"

    def ready(self) -> None:
        # The conversation and the Chatwoot bridge sit above the core and hear of it by its events.
        from conversations import conversation
        from conversations.chatwoot import bridge, webhook
        from conversations.events import (
            CHATWOOT_EVENT_RECEIVED,
            INBOUND_MESSAGE_RECORDED,
            MESSAGE_STATUS_CHANGED,
            SESSION_CLOSED,
        )

        INBOUND_MESSAGE_RECORDED.subscribe(conversation.on_inbound)
        CHATWOOT_EVENT_RECEIVED.subscribe(webhook.on_chatwoot_event)
        SESSION_CLOSED.subscribe(bridge.on_session_closed)
        MESSAGE_STATUS_CHANGED.subscribe(bridge.on_status_changed, when=bridge.is_failure)
