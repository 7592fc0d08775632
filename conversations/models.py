"""Contacts, their sessions and customers, messages with their status history, and the webhook events."""

import datetime as dt

from django.db import models
from django.db.models import Q
from django.utils import timezone

from companies.models import Channel, Company

CUSTOMER_SERVICE_WINDOW = dt.timedelta(hours=24)


class Contact(models.Model):
    """One WhatsApp user as seen by one company: keyed on the phone or, failing that, the user id."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="contacts")
    phone = models.CharField(max_length=20, blank=True, help_text="E.164 digits; Brazilian mobiles with the 9th digit.")
    wa_id = models.CharField(max_length=64, blank=True, help_text="The id the provider last used for this user.")
    user_id = models.CharField(max_length=128, blank=True, help_text="Meta business-scoped user id, or a LID.")
    name = models.CharField(max_length=200, blank=True)
    username = models.CharField(max_length=100, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True, help_text="Opens the 24 h window.")
    business_replied_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last message the business typed itself, in the WhatsApp Business app or on its phone.",
    )
    saved_name = models.CharField(
        max_length=200, blank=True, help_text="The name in the business's address book (WhatsApp Business app)."
    )
    chatwoot_contact_id = models.PositiveBigIntegerField(null=True, blank=True)
    chatwoot_source_id = models.CharField(
        max_length=64, blank=True, help_text="The contact's id in the company's Chatwoot inbox (contact inbox)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["company", "phone"], condition=~Q(phone=""), name="contact_unique_phone"),
            models.UniqueConstraint(
                fields=["company", "user_id"], condition=~Q(user_id=""), name="contact_unique_user_id"
            ),
            models.CheckConstraint(condition=~Q(phone="", user_id=""), name="contact_has_phone_or_user_id"),
        ]
        indexes = [models.Index(fields=["company", "-last_inbound_at"])]

    def __str__(self) -> str:
        return f"{self.name or '?'} ({self.phone or self.user_id})"

    @property
    def window_open(self) -> bool:
        """Whether free-form messages may go out on the Cloud API (24 h after the last inbound one)."""
        return bool(self.last_inbound_at and timezone.now() - self.last_inbound_at < CUSTOMER_SERVICE_WINDOW)


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", "Inbound"
        OUTBOUND = "out", "Outbound"

    class Author(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        BOT = "bot", "Bot"
        AGENT = "agent", "Agent"
        BUSINESS = "business", "Business"  # typed on the phone / WhatsApp Web, or by an ISP system
        SYSTEM = "system", "System"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        PLAYED = "played", "Played"  # a voice message, first played
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        DELETED = "deleted", "Deleted"

    class Purpose(models.TextChoices):
        REPLY = "reply", "Reply"  # in a conversation: the bot, an agent, an operator's single message
        NOTICE = "notice", "Notice"  # started by the ISP: billing, contract events, API messages
        CAMPAIGN = "campaign", "Campaign"

    class MediaStatus(models.TextChoices):
        NONE = "", "No media"
        PENDING = "pending", "Downloading"
        STORED = "stored", "Stored"
        QUARANTINED = "quarantined", "Quarantined"
        FAILED = "failed", "Download failed"

    # No index of their own: (company, -created_at) and (contact, -created_at) below lead with them, and every
    # status change writes every index of a message again (its status is in the outbox's partial indexes).
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="messages", db_index=False)
    channel = models.ForeignKey(Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="messages", db_index=False)
    # Indexed below only where set: notices and campaigns belong to no session.
    session = models.ForeignKey(
        "Session", on_delete=models.SET_NULL, null=True, blank=True, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=3, choices=Direction.choices)
    author = models.CharField(max_length=10, choices=Author.choices)
    type = models.CharField(max_length=24, db_index=True)
    text = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True, help_text="Structured content per type.")
    raw = models.JSONField(default=dict, blank=True, help_text="The provider's payload for this message.")
    provider_id = models.CharField(max_length=128, blank=True)
    reply_to_provider_id = models.CharField(max_length=128, blank=True)
    provider_timestamp = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    status_at = models.DateTimeField(null=True, blank=True)
    error_code = models.CharField(max_length=32, blank=True)
    error_reason = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=128, blank=True)
    purpose = models.CharField(max_length=10, choices=Purpose.choices, blank=True)
    reference = models.CharField(
        max_length=64, blank=True, help_text="What produced it, as kind:id (notice:12, campaign:3, session:40)."
    )
    # The inbound lane (services.inbox): a customer's messages are handled in the order they were written.
    source_event_id = models.PositiveBigIntegerField(null=True, blank=True, help_text="The webhook event it came in.")
    source_position = models.PositiveIntegerField(default=0, help_text="Which item of that webhook it was.")
    handled_at = models.DateTimeField(null=True, blank=True, help_text="When the conversation took it.")
    pricing_category = models.CharField(max_length=32, blank=True)
    pricing = models.JSONField(null=True, blank=True)

    media = models.JSONField(null=True, blank=True, help_text="The provider's reference to the attachment.")
    media_status = models.CharField(max_length=12, choices=MediaStatus.choices, blank=True, default="")
    media_file = models.FileField(upload_to="attachments/", blank=True)
    media_mime = models.CharField(max_length=100, blank=True, help_text="Detected from the bytes.")
    media_size = models.PositiveBigIntegerField(null=True, blank=True)
    media_sha256 = models.CharField(max_length=64, blank=True)
    media_rejection = models.CharField(max_length=40, blank=True, help_text="Why the attachment was quarantined.")

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Providers retry webhooks: the same message id must never make a second row.
            models.UniqueConstraint(
                fields=["company", "provider_id"], condition=~Q(provider_id=""), name="message_unique_provider_id"
            ),
            # The same key from a producer (an API client's retry, a notice sent again) queues one message.
            models.UniqueConstraint(
                fields=["company", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="message_unique_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["contact", "-created_at"]),
            models.Index(fields=["company", "-created_at"]),
            # The outbox: what each channel has due, oldest first (partial, so it stays small).
            models.Index(
                fields=["channel", "next_attempt_at", "id"],
                condition=Q(status="queued"),
                name="message_outbox_due",
            ),
            models.Index(
                fields=["contact", "channel", "id"],
                condition=Q(status__in=["queued", "sending"]),
                name="message_outbox_contact",
            ),
            models.Index(fields=["status", "status_at"], condition=Q(status="sending"), name="message_sending"),
            models.Index(
                fields=["session", "created_at"], condition=Q(session__isnull=False), name="message_session_thread"
            ),
            models.Index(
                fields=["contact", "provider_timestamp", "source_event_id", "source_position", "id"],
                condition=Q(direction="in", handled_at__isnull=True),
                name="message_inbound_unhandled",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.type} {self.provider_id or self.pk}"


class MessageStatusChange(models.Model):
    """One entry of a message's status history, in the order it was learnt."""

    # Indexed by the unique (message, status, at) below, which leads with it.
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="status_changes", db_index=False)
    status = models.CharField(max_length=10, choices=Message.Status.choices)
    at = models.DateTimeField(help_text="When the provider says it happened.")
    error_code = models.CharField(max_length=32, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    applied = models.BooleanField(default=True, help_text="False when it arrived late and did not move the status.")
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            # A receipt delivered twice (provider retry, replay) is one history entry.
            models.UniqueConstraint(fields=["message", "status", "at"], name="status_change_unique_receipt"),
        ]

    def __str__(self) -> str:
        return f"{self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class PendingStatus(models.Model):
    """A status for a message we do not know (yet): applied when it appears, never dropped."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="pending_statuses")
    channel = models.ForeignKey(Channel, on_delete=models.SET_NULL, null=True, blank=True)
    provider_id = models.CharField(max_length=128, db_index=True)
    status = models.CharField(max_length=10, choices=Message.Status.choices)
    at = models.DateTimeField()
    error_code = models.CharField(max_length=32, blank=True)
    error_title = models.CharField(max_length=255, blank=True)
    pricing = models.JSONField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "pending statuses"
        constraints = [
            models.UniqueConstraint(
                fields=["company", "provider_id", "status", "at"], name="pending_status_unique_receipt"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} for {self.provider_id}"


class WebhookEvent(models.Model):
    """A webhook request that passed authentication, stored as it came before the 200 was sent."""

    class Source(models.TextChoices):
        META = "meta", "Meta Cloud API"
        EVOLUTION = "evolution", "Evolution API"
        CHATWOOT = "chatwoot", "Chatwoot"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"

    source = models.CharField(max_length=10, choices=Source.choices)
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="webhook_events")
    body = models.TextField(help_text="The request body exactly as received.")
    headers = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    summary = models.CharField(max_length=255, blank=True, help_text="What processing found, for operators.")
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When a worker took it (a lease).")
    processed_at = models.DateTimeField(null=True, blank=True)
    holds_lane = models.BooleanField(
        default=True,
        help_text="It may carry a customer's message, so the customer's later messages wait for it (the "
        "inbound lane); receipts and the echoes of our own sends do not.",
    )

    class Meta:
        indexes = [
            models.Index(fields=["state", "received_at"]),
            # What is still to be processed per company (the order of Chatwoot's webhooks waits for it).
            models.Index(
                fields=["company", "id"],
                condition=Q(state__in=["pending", "processing"]),
                name="webhook_event_unfinished",
            ),
            # What the inbound lane waits for per company (services.inbox): unfinished events that may carry
            # customers' messages, however many receipts are queued beside them.
            models.Index(
                fields=["company", "id"],
                condition=Q(state__in=["pending", "processing"], holds_lane=True),
                name="webhook_event_holds_lane",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} #{self.pk}"


class AccountNotice(models.Model):
    """Account-level notices from Meta (templates, quality, account updates) and Evolution contact updates.

    Stored for operators and routed to the handler registered for their ``field``; the template
    panel (templates_meta) consumes the template ones.
    """

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="account_notices")
    channel = models.ForeignKey(Channel, on_delete=models.SET_NULL, null=True, blank=True)
    # DO_NOTHING without a database constraint lets the retention purge delete events in bulk; the
    # purge clears these references first.
    webhook_event = models.ForeignKey(
        WebhookEvent, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True
    )
    position = models.PositiveIntegerField(default=0, help_text="Which event of the webhook it was.")
    field = models.CharField(max_length=64, db_index=True)
    value = models.JSONField(default=dict)
    summary = models.CharField(max_length=255, blank=True, help_text="What the notice means, in words.")
    handled = models.BooleanField(default=False, help_text="Something was done with it (a template updated, …).")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            # Replaying a webhook stores (and handles) each of its notices once.
            models.UniqueConstraint(fields=["webhook_event", "position"], name="notice_unique_per_event_position"),
        ]

    def __str__(self) -> str:
        return f"{self.field} ({self.company})"


class HostedFile(models.Model):
    """A file we send by link (a boleto PDF an ERP gave as bytes): WhatsApp fetches it from our public URL.

    The URL carries an unguessable token and stops working at ``expires_at``; the same bytes are kept once
    per company.
    """

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="hosted_files")
    token = models.CharField(max_length=64, unique=True)
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to="hosted/")
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "sha256"], name="hosted_file_unique_content")]

    def __str__(self) -> str:
        return self.filename


class OutboxChannel(Channel):
    """Channels seen as send queues, for the admin's outbox page."""

    class Meta:
        proxy = True
        verbose_name = "outbox"
        verbose_name_plural = "outbox (per channel)"


class CustomerLink(models.Model):
    """An ERP customer a contact is (seed ``contact_customer``): found by phone, or by the CPF/CNPJ it gave."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="customer_links")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="customer_links")
    customer_code = models.CharField(max_length=64, help_text="The customer's id in the ERP.")
    name = models.CharField(max_length=200, blank=True)
    document = models.CharField(max_length=14, blank=True, help_text="CPF or CNPJ, digits only.")
    confirmed = models.BooleanField(default=False, help_text="The customer said it is their account.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "customer_code"], name="customer_link_unique_per_contact")
        ]
        indexes = [models.Index(fields=["company", "customer_code"])]

    def __str__(self) -> str:
        return f"{self.name or '?'} ({self.customer_code})"


class Tag(models.Model):
    """A label an ISP puts on sessions (through the API), per company."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=50)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="tag_unique_name_per_company")]

    def __str__(self) -> str:
        return self.name


class Session(models.Model):
    """The bot/agent state of one contact's current conversation; a contact has at most one open."""

    class Handoff(models.TextChoices):
        BOT = "bot", "Bot"
        AGENT = "agent", "Agent (Chatwoot)"

    class CloseReason(models.TextChoices):
        INACTIVITY = "inactivity", "Idle too long"
        RESOLVED = "resolved", "Resolved in Chatwoot"
        CLOSED = "closed", "Closed through the API"
        FINISHED = "finished", "The customer ended it with the bot"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="sessions", db_index=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="sessions", db_index=False)
    protocol = models.CharField(max_length=20, help_text="Shown to the customer and the agent.")
    state = models.CharField(max_length=32, help_text="Where the bot flow is.")
    data = models.JSONField(default=dict, blank=True, help_text="What the bot flow keeps between answers.")
    transcript = models.JSONField(
        default=list, blank=True, help_text="What was said to the bot (CPF/CNPJ masked), posted to Chatwoot at handoff."
    )
    handoff = models.CharField(max_length=5, choices=Handoff.choices, default=Handoff.BOT)
    handed_off_at = models.DateTimeField(null=True, blank=True)
    customer = models.ForeignKey(CustomerLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    chatwoot_conversation_id = models.PositiveBigIntegerField(null=True, blank=True)
    bot_paused_until = models.DateTimeField(null=True, blank=True, help_text="The bot answers nothing until then.")
    tags = models.ManyToManyField(Tag, blank=True, related_name="sessions")
    last_activity_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=12, choices=CloseReason.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact"], condition=Q(closed_at__isnull=True), name="session_one_open_per_contact"
            ),
            models.UniqueConstraint(fields=["company", "protocol"], name="session_unique_protocol"),
        ]
        indexes = [
            models.Index(fields=["contact", "-created_at"]),
            models.Index(fields=["company", "-created_at"]),
            # The inactivity job: open sessions, idlest first.
            models.Index(fields=["last_activity_at"], condition=Q(closed_at__isnull=True), name="session_open_idle"),
            models.Index(
                fields=["company", "chatwoot_conversation_id"],
                condition=Q(chatwoot_conversation_id__isnull=False),
                name="session_chatwoot_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.protocol}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class ProtocolCounter(models.Model):
    """The last protocol number a company gave, per day in its time zone."""

    company = models.OneToOneField(Company, on_delete=models.CASCADE, primary_key=True, related_name="+")
    day = models.DateField()
    value = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day}: {self.value}"


class BotText(models.Model):
    """A company's own wording of one of the bot's texts; the pt-BR default is used where none is set."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="bot_texts")
    key = models.CharField(max_length=40)
    text = models.TextField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.UniqueConstraint(fields=["company", "key"], name="bot_text_unique_key")]

    def __str__(self) -> str:
        return self.key


class ChatwootDelivery(models.Model):
    """Something owed to Chatwoot for a session, delivered in order and kept until it is (Chatwoot may be down)."""

    class Kind(models.TextChoices):
        OPEN = "open", "Find or open the conversation"
        MESSAGE = "message", "A message (the customer's, or a line of the bot's transcript)"
        NOTE = "note", "A private note for the agent"
        RESOLVE = "resolve", "Resolve the conversation"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", db_index=False)
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="chatwoot_deliveries", db_index=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    text = models.TextField(blank=True, help_text="What to post when there is no message to read it from.")
    outgoing = models.BooleanField(default=False, help_text="Posted as said by us (the bot), not by the customer.")
    key = models.CharField(max_length=100, blank=True, help_text="What it answers, so a webhook twice queues it once.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    error = models.CharField(max_length=255, blank=True)
    chatwoot_message_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "Chatwoot deliveries"
        constraints = [
            # A customer's message is relayed once, however often its event is handled.
            models.UniqueConstraint(
                fields=["session", "message"], condition=Q(kind="message"), name="chatwoot_delivery_message_once"
            ),
            models.UniqueConstraint(fields=["session", "key"], condition=~Q(key=""), name="chatwoot_delivery_key_once"),
        ]
        indexes = [
            models.Index(fields=["session", "id"], condition=Q(state="pending"), name="chatwoot_delivery_pending"),
            models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="chatwoot_delivery_due"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.session}"
