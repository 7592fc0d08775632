"""The operators' panel for notices, one module per kind; imported here so the admin site finds them."""

from notifications.admin import notices, sms

__all__ = ["notices", "sms"]
