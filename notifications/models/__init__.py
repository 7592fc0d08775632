"""What the notifications app stores, one module per kind of notice."""

from notifications.models.sms import SmsMessage, SmsRecipient

__all__ = ["SmsMessage", "SmsRecipient"]
