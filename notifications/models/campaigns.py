"""Campaigns (seed 004): one approved template sent to the numbers of uploaded CSVs, at a set pace.

A campaign's recipients are its own outbox ahead of the messages outbox: the engine
(``notifications.campaigns.engine``) hands ``pending`` recipients to the one door out at the campaign's
messages per minute, so a campaign of 100,000 numbers never floods the channel's queue, and pausing or
cancelling stops it at once.
"""

from django.db import models
from django.db.models import Q

from companies.models import Channel, Company
from conversations.models import Contact, Message


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"  # being set up: CSVs may be uploaded
        SCHEDULED = "scheduled", "Scheduled"  # started, waiting for its start time
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        FINISHED = "finished", "Finished"  # every message of it was sent (or failed): nothing waits in the outbox
        CANCELLED = "cancelled", "Cancelled"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="campaigns")
    name = models.CharField(max_length=200)
    template_name = models.CharField(max_length=512)
    template_language = models.CharField(max_length=15, default="pt_BR")
    channel = models.ForeignKey(
        Channel,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text="The channel it goes out on; empty: the company's routing policy for notices, per recipient.",
    )
    messages_per_minute = models.PositiveIntegerField(default=60)
    start_at = models.DateTimeField(null=True, blank=True, help_text="Not before this time; empty: when started.")
    columns = models.JSONField(
        default=dict, blank=True, help_text="Template field → CSV column, where the column has another name."
    )
    fixed = models.JSONField(default=dict, blank=True, help_text="Template field → one value for every recipient.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    paused_reason = models.CharField(max_length=300, blank=True, help_text="Why the engine paused it, if it did.")
    # The engine's pace: messages it may still hand over, earned at messages_per_minute since pumped_at.
    credit = models.FloatField(default=0.0)
    pumped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["company", "-id"], name="campaign_company_newest"),
            models.Index(fields=["status"], name="campaign_active", condition=Q(status__in=["scheduled", "running"])),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def reference(self) -> str:
        """What its messages carry as ``Message.reference``."""
        return f"campaign:{self.pk}"


class CampaignUpload(models.Model):
    """One CSV uploaded to a campaign, read in the background a batch of rows at a time."""

    class Status(models.TextChoices):
        IMPORTING = "importing", "Importing"
        IMPORTED = "imported", "Imported"
        FAILED = "failed", "Failed"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="uploads")
    file = models.FileField(upload_to="campaigns/%Y/%m/")
    filename = models.CharField(max_length=255, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    encoding = models.CharField(max_length=16, blank=True)
    delimiter = models.CharField(max_length=1, blank=True)
    phone_column = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.IMPORTING)
    error = models.CharField(max_length=500, blank=True)
    # Progress, kept with each batch so an import a dead worker left is resumed where it stopped.
    bytes_read = models.PositiveBigIntegerField(default=0)
    rows = models.PositiveIntegerField(default=0, help_text="Data rows read (the header not counted).")
    valid = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0, help_text="Numbers already in the campaign: not added again.")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.filename or f"upload {self.pk}"


class CampaignRowError(models.Model):
    """A CSV row that was not added: its line number in the file and why."""

    upload = models.ForeignKey(CampaignUpload, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField()
    phone = models.CharField(max_length=100, blank=True, help_text="The phone cell as written.")
    reason = models.CharField(max_length=300)

    class Meta:
        ordering = ["line"]
        constraints = [models.UniqueConstraint(fields=["upload", "line"], name="campaign_row_error_once")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class CampaignRecipient(models.Model):
    """One number of a campaign: pending → queued → sent → delivered → read → replied, or failed / cancelled."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # waiting for its turn in the campaign
        QUEUED = "queued", "Queued"  # handed to the outbox
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        REPLIED = "replied", "Replied"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    upload = models.ForeignKey(CampaignUpload, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    line = models.PositiveIntegerField(help_text="Its line in the uploaded CSV.")
    phone = models.CharField(max_length=20, help_text="Digits with the country code.")
    values = models.JSONField(default=dict, help_text="Template field → this recipient's value.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    status_at = models.DateTimeField(null=True, blank=True)
    failure = models.CharField(max_length=300, blank=True)
    message = models.ForeignKey(Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["campaign", "phone"], name="campaign_recipient_once")]
        indexes = [
            models.Index(fields=["campaign", "status"], name="campaign_recipient_status"),
            # "Replied": a contact's latest campaign message that reached it.
            models.Index(
                fields=["contact", "status"],
                name="campaign_recipient_reached",
                condition=Q(status__in=["sent", "delivered", "read"]),
            ),
        ]

    def __str__(self) -> str:
        return self.phone
