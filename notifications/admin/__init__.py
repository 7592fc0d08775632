"""The operators' panel for notices, one module per kind; imported here so the admin site finds them."""

from notifications.admin import campaigns, notices, sms

__all__ = ["campaigns", "notices", "sms"]
