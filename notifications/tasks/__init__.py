"""Notifications tasks, one module per kind of notice; imported here so Celery's autodiscovery finds them."""

from notifications.tasks import campaigns, reminders, sms

__all__ = ["campaigns", "reminders", "sms"]
