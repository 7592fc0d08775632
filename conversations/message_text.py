"""What a stored message says, for people reading a conversation (the API, the admin's thread)."""

from typing import Any

from config.masking import mask_text
from conversations.models import Message
from conversations.whatsapp import content as contents


def readable_text(message: Message) -> str:
    """Its text with CPF/CNPJ and secrets masked; for an attachment without a caption, what it is.

    A customer types their CPF to the bot and their Wi-Fi password to an agent: read back, both stay masked
    as in the logs and the bot's transcript.
    """
    text = message.text
    content = (message.data or {}).get("content")
    if not text and isinstance(content, dict):
        try:
            text = contents.readable_text(content)
        except (KeyError, TypeError, AttributeError):  # content of a shape this code no longer writes
            text = ""
    if not text:
        name = filename(message)
        text = f"[{message.type}: {name}]" if name else f"[{message.type or 'message'}]"
    return mask_text(text)


def filename(message: Message) -> str:
    """The attachment's file name, as the sender gave it or as we sent it; "" when none."""
    if isinstance(message.media, dict) and message.media.get("filename"):
        return str(message.media["filename"])
    content: Any = (message.data or {}).get("content")
    if isinstance(content, dict) and isinstance(content.get("media"), dict):
        return str(content["media"].get("filename") or "")
    return ""
