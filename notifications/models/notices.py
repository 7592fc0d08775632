"""Notices: a contract event or a bill for one ERP customer, sent to each of the customer's WhatsApp numbers."""

from django.db import models
from django.utils import timezone

from companies.models import Company
from conversations.models import Message


class Notice(models.Model):
    class Kind(models.TextChoices):
        CONTRACT_EVENT = "contract_event", "Contract event"
        BILLING = "billing", "Billing"
        REMINDER = "reminder", "Billing reminder"

    class Event(models.TextChoices):
        ACTIVATE = "ACTIVATE", "Ativado"
        BLOCK = "BLOCK", "Bloqueado"
        UNBLOCK = "UNBLOCK", "Desbloqueado"
        SUSPEND = "SUSPEND", "Suspenso"
        REACTIVATE = "REACTIVATE", "Reativado"
        CANCEL = "CANCEL", "Cancelado"
        BANDWIDTH_LIMIT = "BANDWIDTH_LIMIT", "Reduzido a banda de navegação"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    customer_code = models.CharField(max_length=64)
    customer_name = models.CharField(max_length=200, blank=True)
    contract_id = models.CharField(max_length=64, blank=True)
    event = models.CharField(max_length=16, choices=Event.choices, blank=True)
    invoice_ids = models.JSONField(default=list, blank=True, help_text="The invoices a billing notice sent.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["company", "-created_at"])]

    def __str__(self) -> str:
        what = self.event or self.get_kind_display()
        return f"{what} → {self.customer_code}"


class NoticeRecipient(models.Model):
    """One WhatsApp number of the customer, the messages it was sent, or why nothing was."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="recipients")
    phone = models.CharField(max_length=20, blank=True)
    failure = models.CharField(
        max_length=300, blank=True, help_text="Why nothing was queued for this number (no number, no template...)."
    )
    messages = models.ManyToManyField(Message, blank=True, related_name="notice_recipients")

    def __str__(self) -> str:
        return self.phone or "(no number)"


class ReminderStep(models.Model):
    """A billing reminder step done for one invoice: at most once per (invoice, step)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="reminder_steps")
    invoice_id = models.CharField(max_length=64)
    days = models.SmallIntegerField(help_text="Days relative to the due date (-3: three days before).")
    due_date = models.DateField()
    notice = models.ForeignKey(Notice, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    outcome = models.CharField(max_length=200, blank=True, help_text="Sent, or why not (paid, no number...).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "invoice_id", "days"], name="reminder_once_per_step")]

    def __str__(self) -> str:
        return f"{self.invoice_id} D{self.days:+d}"


class ReminderRun(models.Model):
    """A company's billing reminders for one day of its calendar: asked of the ERP once that day."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="reminder_runs")
    day = models.DateField(help_text="The company's local date.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "day"], name="reminder_run_once_a_day")]

    def __str__(self) -> str:
        return f"{self.company} {self.day}"
