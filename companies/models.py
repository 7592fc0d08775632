"""Tenants (companies), their WhatsApp channels, and the credentials that reach them."""

import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from companies.business_hours import validate_business_hours
from config.fields import EncryptedTextField

META_GRAPH_BASE_URL = "https://graph.facebook.com"


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (use an IANA name like America/Sao_Paulo).")


def validate_reminder_days(value: object) -> None:
    if value is None:  # an emptied box in the admin: no reminders (Company.clean stores [])
        return
    if not isinstance(value, list) or not all(type(day) is int and -90 <= day <= 90 for day in value):
        raise ValidationError("A list of whole days between -90 and 90, relative to the due date: [-3, 0, 3].")
    if len(set(value)) != len(value):
        raise ValidationError("Each day once.")


def default_api_version() -> str:
    return settings.META_GRAPH_API_VERSION


class Company(models.Model):
    """One ISP. URLs and webhooks name it by ``contract``."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        # Webhooks of an inactive company are acknowledged and stored, but nothing is sent.
        INACTIVE = "inactive", "Inactive"

    class ErpSystem(models.TextChoices):
        NONE = "", "None"
        IXC = "ixc", "IXC Soft"
        ROUTERBOX = "routerbox", "RouterBox (RBX ISP)"
        SGP = "sgp", "SGP"
        MKAUTH = "mkauth", "MK-Auth"
        HUBSOFT = "hubsoft", "Hubsoft"

    class PixKeyType(models.TextChoices):
        CNPJ = "CNPJ", "CNPJ"
        CPF = "CPF", "CPF"
        EMAIL = "EMAIL", "E-mail"
        PHONE = "PHONE", "Phone"
        EVP = "EVP", "Random key (EVP)"

    class ActiveChannelPolicy(models.TextChoices):
        PREFER_EVOLUTION = "prefer_evolution", "Unofficial (Evolution) when connected, else Cloud template"
        CLOUD_ONLY = "cloud_only", "Cloud API only"
        EVOLUTION_ONLY = "evolution_only", "Evolution only"

    contract = models.UUIDField(default=uuid.uuid4, unique=True, help_text="Identifies the company in URLs.")
    name = models.CharField(max_length=120)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    inactivity_minutes = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)],
        help_text="A bot session idle this long is closed.",
    )
    support_phone = models.CharField(max_length=20, blank=True, help_text="Shown to customers in notices.")
    timezone = models.CharField(max_length=64, default="America/Sao_Paulo", validators=[validate_timezone])
    business_hours = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_business_hours],
        help_text='Per weekday, opening intervals: {"mon": [["08:00", "18:00"]], "sat": [["08:00", "12:00"]]}.',
    )

    chatwoot_base_url = models.URLField(blank=True)
    chatwoot_account_id = models.PositiveIntegerField(null=True, blank=True)
    chatwoot_inbox_id = models.PositiveIntegerField(null=True, blank=True)
    chatwoot_api_token = EncryptedTextField()
    chatwoot_webhook_secret = EncryptedTextField(help_text="The last part of the Chatwoot webhook URL.")
    chatwoot_signing_secret = EncryptedTextField(
        help_text="Chatwoot's webhook secret (Chatwoot 4.11 and later): when set, X-Chatwoot-Signature is required."
    )
    chatwoot_resolve_on_inactivity = models.BooleanField(
        "resolve idle Chatwoot conversations",
        default=True,
        help_text="A session idle in Chatwoot gets a private note; resolve its conversation too, or keep it open.",
    )
    chatwoot_tell_assignment = models.BooleanField("tell the customer when the agent or team changes", default=True)

    erp_system = models.CharField(max_length=16, choices=ErpSystem.choices, blank=True, default=ErpSystem.NONE)
    erp_base_url = models.URLField(blank=True)
    erp_username = models.CharField(
        max_length=120, blank=True, help_text="IXC: the token's user id. SGP: the app name. Hubsoft: the user."
    )
    erp_password = EncryptedTextField(help_text="Hubsoft: the user's password.")
    erp_token = EncryptedTextField(help_text="IXC, SGP: the token. RouterBox: the integration key.")
    erp_client_id = models.CharField(max_length=120, blank=True, help_text="Hubsoft, MK-Auth: the OAuth client id.")
    erp_client_secret = EncryptedTextField(help_text="Hubsoft, MK-Auth: the OAuth client secret.")
    erp_verify_tls = models.BooleanField(
        "verify the ERP's TLS certificate",
        default=True,
        help_text="Turn off only for an ERP on a self-signed certificate.",
    )

    billing_reminder_days = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_reminder_days],
        help_text="Days relative to the due date on which open invoices are notified, e.g. [-3, 0, 3]. Empty: none.",
    )
    billing_reminder_hour = models.PositiveSmallIntegerField(
        default=9, validators=[MaxValueValidator(23)], help_text="Hour of the day (company time zone) reminders go."
    )
    pix_key = models.CharField(max_length=77, blank=True, help_text="Where PIX payments go (Meta's order message).")
    pix_key_type = models.CharField(max_length=8, choices=PixKeyType.choices, blank=True)
    pix_merchant_name = models.CharField(max_length=100, blank=True, help_text="The PIX key holder's name.")

    sms_url_template = models.CharField(
        max_length=500,
        blank=True,
        help_text="HTTP URL with |USUARIO|, |SENHA|, |MENSAGEM| and |CELULAR| placeholders.",
    )
    sms_username = models.CharField(max_length=120, blank=True)
    sms_password = EncryptedTextField()

    meta_app_secret = EncryptedTextField(help_text="Meta app secret: checks X-Hub-Signature-256 on webhooks.")
    meta_verify_token = EncryptedTextField(help_text="Token Meta echoes in the webhook verification request.")

    bot_enabled = models.BooleanField(default=True)
    message_grouping_seconds = models.PositiveIntegerField(
        default=3, validators=[MaxValueValidator(60)], help_text="Messages typed this close together are read as one."
    )
    bot_quiet_after_business_minutes = models.PositiveIntegerField(
        default=30,
        validators=[MaxValueValidator(24 * 60)],
        help_text="The bot stays quiet this long after the business answered from the WhatsApp Business app.",
    )
    max_invalid_answers = models.PositiveIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(10)], help_text="Then the bot hands over."
    )

    active_channel_policy = models.CharField(
        max_length=24, choices=ActiveChannelPolicy.choices, default=ActiveChannelPolicy.PREFER_EVOLUTION
    )
    evolution_fallback_to_cloud = models.BooleanField(
        default=True, help_text="When the Evolution channel is disconnected, send notices as Cloud templates."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"
        permissions = [("manage_platform", "Can manage every company through the API (platform admin)")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def clean(self) -> None:
        if self.billing_reminder_days is None:
            self.billing_reminder_days = []


class Channel(models.Model):
    """One WhatsApp number of a company."""

    class Kind(models.TextChoices):
        CLOUD = "cloud", "WhatsApp Cloud API (Meta)"
        EVOLUTION = "evolution", "Evolution API"
        CONSOLE = "console", "Console (development: prints and records)"

    class ConnectionState(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        OPEN = "open", "Connected"
        CONNECTING = "connecting", "Connecting"
        CLOSE = "close", "Disconnected"

    class Health(models.TextChoices):
        OK = "ok", "OK"
        AUTH_FAILED = "auth_failed", "Credentials refused"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="channels")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=80, help_text="A label for operators, e.g. 'Atendimento'.")
    display_number = models.CharField(max_length=20, blank=True)
    is_active = models.BooleanField(default=True)
    receives_inbound = models.BooleanField(default=True)
    sends_notices = models.BooleanField(default=True, help_text="May send billing and contract notices.")
    brazil_payments = models.BooleanField(
        "enabled for Meta's Brazil payments",
        default=False,
        help_text="Cloud: the WABA may send PIX as an order message with a copy button (needs the company's PIX key).",
    )

    api_base_url = models.URLField(blank=True, help_text="Cloud: defaults to Meta's Graph API. Evolution: required.")
    phone_number_id = models.CharField(max_length=32, blank=True)
    waba_id = models.CharField("WABA id", max_length=32, blank=True)
    access_token = EncryptedTextField()
    api_version = models.CharField(max_length=10, default=default_api_version)
    instance_name = models.CharField(max_length=100, blank=True, help_text="Defaults to the company contract.")
    api_key = EncryptedTextField()

    throughput_mps = models.PositiveIntegerField(
        "messages per second",
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Cloud pacing: Meta allows 80 by default, up to 1,000 on upgrade.",
    )
    send_delay_ms = models.PositiveIntegerField(
        "delay between messages (ms)",
        default=5000,
        validators=[MaxValueValidator(120_000)],
        help_text="Evolution pacing, to look less like a robot to WhatsApp.",
    )

    connection_state = models.CharField(max_length=16, choices=ConnectionState.choices, default=ConnectionState.UNKNOWN)
    connection_state_changed_at = models.DateTimeField(null=True, blank=True)
    health = models.CharField(
        max_length=16,
        choices=Health.choices,
        default=Health.OK,
        help_text="Sending stops while the provider refuses the credentials; saving new ones resets it.",
    )
    health_reason = models.CharField(max_length=255, blank=True)
    health_changed_at = models.DateTimeField(null=True, blank=True)
    connection_reason = models.CharField(
        max_length=120, blank=True, help_text="Why it last changed, as Evolution said."
    )
    qr_code = models.TextField(blank=True, help_text="The latest pairing QR (Evolution), as a data URL.")
    qr_code_updated_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["company__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["phone_number_id"],
                condition=~Q(phone_number_id=""),
                name="channel_unique_phone_number_id",
                violation_error_message="Another channel already uses this phone_number_id.",
            ),
            models.UniqueConstraint(
                fields=["instance_name"],
                condition=Q(kind="evolution") & ~Q(instance_name=""),
                name="channel_unique_evolution_instance",
                violation_error_message="Another Evolution channel already uses this instance name.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def base_url(self) -> str:
        if self.kind == self.Kind.CLOUD:
            return (self.api_base_url or META_GRAPH_BASE_URL).rstrip("/")
        return self.api_base_url.rstrip("/")

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.kind == self.Kind.CLOUD:
            for field in ("phone_number_id", "waba_id", "access_token"):
                if not getattr(self, field):
                    errors[field] = "Required for a Cloud API channel."
        elif self.kind == self.Kind.EVOLUTION:
            for field in ("api_base_url", "api_key"):
                if not getattr(self, field):
                    errors[field] = "Required for an Evolution channel."
        elif self.kind == self.Kind.CONSOLE and settings.IS_PRODUCTION:
            errors["kind"] = "Console channels exist for development and tests only."
        if errors:
            raise ValidationError(errors)


class Member(models.Model):
    """A person of one company: an ISP admin (the Django admin, scoped to the company) or an agent (the live
    spend dashboard only). A user belongs to at most one company; staff without a membership are the platform's.

    Written only by ``companies.members``, which also keeps the user's staff flag in step with the role.
    """

    class Role(models.TextChoices):
        ISP_ADMIN = "isp_admin", "ISP admin"
        AGENT = "agent", "Agent"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["company__name", "user__username"]
        verbose_name = "member"

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.company})"

    @property
    def is_isp_admin(self) -> bool:
        return self.role == self.Role.ISP_ADMIN


class EventDelivery(models.Model):
    """One domain event for one handler (``companies.events``), kept until the handler has taken it.

    Written in the transaction that made the change, so an event exists exactly when its change does;
    delivered after that commit by the events queue, retried with backoff, and deleted once handled.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        FAILED = "failed", "Failed (gave up)"

    topic = models.CharField(max_length=100)
    handler = models.CharField(max_length=200, help_text="The subscriber's dotted path.")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    payload = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A worker holds it until then.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "event deliveries"
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], condition=Q(state="pending"), name="event_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} → {self.handler}"


class HashedKey(models.Model):
    """A bearer credential stored as its SHA-256: shown once, identified later by its prefix."""

    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, editable=False, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiKey(HashedKey):
    """What an ISP system uses to call the API; it only ever reaches its own company."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="api_keys")

    class Meta(HashedKey.Meta):
        verbose_name = "API key"


class PlatformToken(HashedKey):
    """A staff member's token for the platform endpoints (creating and editing companies)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="platform_tokens")

    class Meta(HashedKey.Meta):
        verbose_name = "platform token"


class JobLock(models.Model):
    """A lease on a periodic job's name, so a job never runs twice at the same time across workers.

    Lives here, in the bottom app, because jobs of every app take it (see ``companies.joblocks``).
    """

    name = models.CharField(max_length=100, primary_key=True)
    holder = models.CharField(max_length=100, blank=True)
    acquired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} (held by {self.holder or 'nobody'})"


class IdempotencyRecord(models.Model):
    """The answer given to a request sent with an ``Idempotency-Key``, replayed for the same key and body."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.company})"
