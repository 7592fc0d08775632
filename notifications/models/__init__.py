"""What the ISP's systems asked us to tell their customers, and what became of it."""

from notifications.models.notices import Notice, NoticeRecipient, ReminderRun, ReminderStep

__all__ = ["Notice", "NoticeRecipient", "ReminderRun", "ReminderStep"]
