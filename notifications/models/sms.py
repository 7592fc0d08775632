"""SMS requests and their numbers: the table is the outbox, each number's row its delivery state."""

from django.db import models
from django.db.models import Q

from companies.models import Company


class SmsMessage(models.Model):
    """One ``POST /api/v1/sms``: a text for one or many numbers of one company."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="sms_messages")
    text = models.TextField()
    parts = models.PositiveSmallIntegerField(help_text="SMS parts per number (GSM 03.38), what the gateway bills.")
    idempotency_key = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = "SMS"
        verbose_name_plural = "SMS"
        indexes = [models.Index(fields=["company", "-id"], name="sms_company_newest")]

    def __str__(self) -> str:
        return f"SMS {self.pk}"


class SmsRecipient(models.Model):
    """One number of an SMS: queued → sending → sent, or failed with the reason."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    message = models.ForeignKey(SmsMessage, on_delete=models.CASCADE, related_name="recipients")
    phone = models.CharField(max_length=20, help_text="Digits with the country code, as the gateway gets it.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    status_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Calls made to the gateway.")
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When a queued number is due.")
    sent_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error = models.CharField(max_length=500, blank=True)
    gateway_answer = models.CharField(max_length=400, blank=True, help_text="What the gateway last said, in short.")

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["message", "phone"], name="sms_recipient_once")]
        indexes = [
            # The sweeper's two questions: queued rows past due, sending rows left behind.
            models.Index(
                fields=["status", "next_attempt_at"],
                name="sms_recipient_pending",
                condition=Q(status__in=["queued", "sending"]),
            ),
            models.Index(fields=["phone"], name="sms_recipient_phone"),
        ]

    def __str__(self) -> str:
        return self.phone
