"""Meta message templates as Meta holds them, their status history, and which one serves each purpose."""

from django.db import models

from companies.models import Company


class Template(models.Model):
    """A WhatsApp message template of one WABA, in one language (Meta's unit of review)."""

    class Category(models.TextChoices):
        MARKETING = "MARKETING", "Marketing"
        UTILITY = "UTILITY", "Utility"
        AUTHENTICATION = "AUTHENTICATION", "Authentication"

    class ParameterFormat(models.TextChoices):
        POSITIONAL = "POSITIONAL", "Positional ({{1}}, {{2}}, …)"
        NAMED = "NAMED", "Named ({{first_name}}, …)"

    class Status(models.TextChoices):
        DRAFT = "DRAFT", "Draft (not submitted)"
        PENDING = "PENDING", "Pending review"
        APPROVED = "APPROVED", "Approved"
        REJECTED = "REJECTED", "Rejected"
        PAUSED = "PAUSED", "Paused (low quality)"
        DISABLED = "DISABLED", "Disabled"
        IN_APPEAL = "IN_APPEAL", "In appeal"
        PENDING_DELETION = "PENDING_DELETION", "Pending deletion"
        DELETED = "DELETED", "Deleted at Meta"
        LIMIT_EXCEEDED = "LIMIT_EXCEEDED", "Limit exceeded"
        ARCHIVED = "ARCHIVED", "Archived"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="templates")
    waba_id = models.CharField("WABA id", max_length=32)
    name = models.CharField(max_length=512, help_text="Lowercase letters, digits and underscores.")
    language = models.CharField(max_length=15, default="pt_BR")
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.UTILITY)
    parameter_format = models.CharField(
        max_length=10, choices=ParameterFormat.choices, default=ParameterFormat.POSITIONAL
    )
    components = models.JSONField(default=list, help_text="Meta's components: HEADER, BODY, FOOTER, BUTTONS.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    rejection_reason = models.CharField(max_length=255, blank=True)
    quality_score = models.CharField(max_length=10, blank=True, help_text="GREEN, YELLOW, RED or UNKNOWN.")
    warning = models.CharField(
        max_length=255, blank=True, help_text="What Meta warned of and not yet undone (flagged, a category change)."
    )
    warning_until = models.DateTimeField(
        null=True, blank=True, help_text="When the warning takes effect (the template disabled, its category changed)."
    )
    meta_template_id = models.CharField(max_length=32, blank=True, db_index=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["company__name", "name", "language"]
        constraints = [
            # Meta's own rule is one name per WABA and language; a WABA belongs to one company, and a
            # company's drafts may not have a WABA yet.
            models.UniqueConstraint(
                fields=["company", "waba_id", "name", "language"], name="template_unique_per_waba_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def is_sendable(self) -> bool:
        return self.status == self.Status.APPROVED

    def component(self, kind: str) -> dict | None:
        return next((c for c in self.components if str(c.get("type", "")).upper() == kind), None)


class TemplateStatusChange(models.Model):
    class Source(models.TextChoices):
        SUBMIT = "submit", "Submitted from the panel"
        WEBHOOK = "webhook", "Meta webhook"
        SYNC = "sync", "Sync with Meta"

    template = models.ForeignKey(Template, on_delete=models.CASCADE, related_name="status_changes")
    status = models.CharField(max_length=16, choices=Template.Status.choices)
    event = models.CharField(max_length=32, blank=True, help_text="Meta's event (FLAGGED, PAUSED, …) or what changed.")
    reason = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.status} ({self.source})"


class TemplatePurpose(models.Model):
    """Which approved template serves a purpose for a company, and how its parameters are filled."""

    class Purpose(models.TextChoices):
        BILLING_NOTICE = "billing_notice", "Billing notice"
        CONTRACT_ACTIVATE = "contract_activate", "Contract activated"
        CONTRACT_BLOCK = "contract_block", "Contract blocked"
        CONTRACT_UNBLOCK = "contract_unblock", "Contract unblocked"
        CONTRACT_SUSPEND = "contract_suspend", "Contract suspended"
        CONTRACT_REACTIVATE = "contract_reactivate", "Contract reactivated"
        CONTRACT_CANCEL = "contract_cancel", "Contract cancelled"
        CONTRACT_BANDWIDTH_LIMIT = "contract_bandwidth_limit", "Bandwidth limited"
        REOPEN_CONVERSATION = "reopen_conversation", "Reopen a conversation"
        INACTIVITY_CLOSE = "inactivity_close", "Conversation closed for inactivity"
        AGENT_STARTED = "agent_started", "Conversation started by an agent"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="template_purposes")
    purpose = models.CharField(max_length=32, choices=Purpose.choices)
    template = models.ForeignKey(Template, on_delete=models.SET_NULL, null=True, blank=True, related_name="purposes")
    parameters = models.JSONField(
        default=list,
        blank=True,
        help_text='How each body variable is filled, in order, e.g. ["{customer_name}", "{amount}"].',
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "purpose"], name="purpose_unique_per_company")]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} → {self.template or 'none'}"
