"""What the ISP's systems asked us to tell their customers and what became of it, one module per kind."""

from notifications.models.campaigns import Campaign, CampaignRecipient, CampaignRowError, CampaignUpload
from notifications.models.notices import Notice, NoticeRecipient, ReminderRun, ReminderStep
from notifications.models.sms import SmsMessage, SmsRecipient

__all__ = [
    "Campaign",
    "CampaignRecipient",
    "CampaignRowError",
    "CampaignUpload",
    "Notice",
    "NoticeRecipient",
    "ReminderRun",
    "ReminderStep",
    "SmsMessage",
    "SmsRecipient",
]
