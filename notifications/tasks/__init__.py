"""The notifications app's tasks, one module per area (Celery finds them through this package)."""

from notifications.tasks.reminders import send_billing_reminders

__all__ = ["send_billing_reminders"]
