"""Operators' views of the inbound pipeline (webhook events with replay, messages, contacts, notices) and of
the conversations: sessions with their messages as a thread, customer links, tags and the bot's texts."""

import datetime as dt
import json
import string
import zoneinfo

from django import forms
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Count, Min, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from companies import services as company_services
from companies.admin_scoping import EVERYTHING, NOTHING, READ_ONLY, CompanyScopedAdmin, CompanyScopedInline
from companies.models import Channel
from config.admin_display import pill
from config.masking import mask_document, mask_text
from conversations.bot import texts
from conversations.message_text import readable_text
from conversations.models import (
    AccountNotice,
    BotText,
    Contact,
    CustomerLink,
    Message,
    MessageStatusChange,
    OutboxChannel,
    PendingStatus,
    Session,
    Tag,
    WebhookEvent,
)
from conversations.services import outbound, webhook_events

STATE_PILLS = {
    "processed": "pill-ok",
    "stored": "pill-ok",
    "read": "pill-ok",
    "delivered": "pill-ok",
    "pending": "pill-warn",
    "queued": "pill-warn",
    "sending": "pill-warn",
    "failed": "pill-bad",
    "quarantined": "pill-bad",
}


def state_pill(value: str, label: str | None = None) -> str:
    return pill(STATE_PILLS.get(value, "pill-muted"), label or value or "—")


class NoCountPaginator(Paginator):
    """Big tables: count at most 10,000 rows (a LIMITed subquery), never the whole table."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list[: self.CAP].count()


class BigTableAdmin(CompanyScopedAdmin):
    paginator = NoCountPaginator
    show_full_result_count = False
    list_per_page = 50


@admin.register(WebhookEvent)
class WebhookEventAdmin(BigTableAdmin):
    company_path = "company"
    isp_admin_permissions = NOTHING  # the pipeline's plumbing: raw requests, replays
    list_display = ["id", "source", "company", "state_pill", "summary", "attempts", "received_at", "processed_at"]
    list_filter = ["source", "state", "received_at", "company"]
    list_select_related = ["company"]
    search_fields = ["=id", "summary", "error"]
    date_hierarchy = "received_at"
    actions = ["replay"]
    readonly_fields = [
        "source",
        "company",
        "state",
        "attempts",
        "summary",
        "error",
        "received_at",
        "processed_at",
        "headers",
        "pretty_body",
    ]
    exclude = ["body"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="state", ordering="state")
    def state_pill(self, obj: WebhookEvent) -> str:
        return state_pill(obj.state)

    @admin.display(description="body")
    def pretty_body(self, obj: WebhookEvent) -> str:
        try:
            text = json.dumps(json.loads(obj.body), indent=2, ensure_ascii=False)
        except ValueError:
            text = obj.body
        text = mask_text(text)
        return format_html('<pre style="white-space: pre-wrap; max-height: 40em; overflow: auto">{}</pre>', text)

    @admin.action(description="Replay the selected events (idempotent)")
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        count = webhook_events.replay(events=queryset)
        self.message_user(request, f"{count} events scheduled for processing.", messages.SUCCESS)


class StatusChangeInline(CompanyScopedInline, admin.TabularInline):
    model = MessageStatusChange
    isp_admin_permissions = READ_ONLY
    extra = 0
    can_delete = False
    fields = ["status", "at", "applied", "error_code", "error_title", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class FailedRecentlyFilter(admin.SimpleListFilter):
    title = "attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [("failed", "Failed"), ("quarantined", "Quarantined attachment")]

    def queryset(self, request, queryset):
        if self.value() == "failed":
            return queryset.filter(status=Message.Status.FAILED)
        if self.value() == "quarantined":
            return queryset.filter(media_status=Message.MediaStatus.QUARANTINED)
        return queryset


@admin.register(Message)
class MessageAdmin(BigTableAdmin):
    company_path = "company"
    isp_admin_permissions = READ_ONLY  # retrying and cancelling are the operators'
    list_display = [
        "id",
        "created_at",
        "company",
        "contact",
        "direction",
        "type",
        "short_text",
        "status_pill",
        "media_pill",
    ]
    list_filter = [FailedRecentlyFilter, "direction", "status", "type", "media_status", "company"]
    list_select_related = ["company", "contact"]
    search_fields = ["=provider_id", "text", "contact__phone", "contact__name"]
    date_hierarchy = "created_at"
    inlines = [StatusChangeInline]
    raw_id_fields = ["contact", "channel"]
    readonly_fields = [f.name for f in Message._meta.fields if f.name != "id"]
    actions = ["retry", "cancel"]

    @admin.action(description="Retry the selected failed or cancelled messages")
    def retry(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        done = sum(outbound.retry_message(message=message) for message in queryset)
        self.message_user(request, f"{done} messages queued again.", messages.SUCCESS)

    @admin.action(description="Cancel the selected queued messages")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Message]) -> None:
        done = sum(outbound.cancel_message(message=message) for message in queryset)
        self.message_user(request, f"{done} messages cancelled.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="text")
    def short_text(self, obj: Message) -> str:
        return (obj.text[:80] + "…") if len(obj.text) > 80 else obj.text

    @admin.display(description="status", ordering="status")
    def status_pill(self, obj: Message) -> str:
        return state_pill(obj.status, obj.get_status_display())

    @admin.display(description="attachment", ordering="media_status")
    def media_pill(self, obj: Message) -> str:
        if not obj.media_status:
            return "—"
        return state_pill(obj.media_status, f"{obj.get_media_status_display()} {obj.media_rejection}".strip())


@admin.register(Contact)
class ContactAdmin(BigTableAdmin):
    company_path = "company"
    isp_admin_permissions = READ_ONLY
    list_display = ["__str__", "company", "phone", "user_id", "saved_name", "last_inbound_at", "window"]
    list_filter = ["company"]
    list_select_related = ["company"]
    search_fields = ["phone", "wa_id", "user_id", "name", "username", "saved_name"]
    readonly_fields = ["created_at", "updated_at", "last_inbound_at", "business_replied_at", "saved_name"]

    @admin.display(description="24 h window", boolean=True)
    def window(self, obj: Contact) -> bool:
        return obj.window_open


@admin.register(PendingStatus)
class PendingStatusAdmin(BigTableAdmin):
    company_path = "company"
    isp_admin_permissions = NOTHING  # receipts waiting for their message: plumbing
    list_display = ["provider_id", "status", "at", "company", "error_code", "created_at"]
    list_filter = ["status", "company"]
    search_fields = ["=provider_id"]
    readonly_fields = [f.name for f in PendingStatus._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AccountNotice)
class AccountNoticeAdmin(BigTableAdmin):
    company_path = "company"
    isp_admin_permissions = READ_ONLY
    list_display = ["field", "summary", "company", "channel", "handled", "received_at"]
    list_filter = ["field", "handled", "company"]
    list_select_related = ["company", "channel"]
    readonly_fields = [f.name for f in AccountNotice._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(OutboxChannel)
class OutboxAdmin(CompanyScopedAdmin):
    """Per channel: what waits, what is being sent, what failed in the last hour, how old the oldest is."""

    company_path = "company"
    isp_admin_permissions = READ_ONLY

    list_display = ["name", "company", "kind", "health_pill", "queued", "sending", "failed_last_hour", "oldest_age"]
    list_filter = ["company", "kind", "health"]
    list_select_related = ["company"]
    search_fields = ["name", "company__name", "display_number"]
    actions = ["resume"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OutboxChannel]:
        hour_ago = timezone.now() - dt.timedelta(hours=1)
        return (
            super()
            .get_queryset(request)
            .annotate(
                queued_count=Count("messages", filter=Q(messages__status=Message.Status.QUEUED)),
                sending_count=Count("messages", filter=Q(messages__status=Message.Status.SENDING)),
                failed_count=Count(
                    "messages", filter=Q(messages__status=Message.Status.FAILED, messages__status_at__gte=hour_ago)
                ),
                oldest_queued=Min("messages__created_at", filter=Q(messages__status=Message.Status.QUEUED)),
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="queued", ordering="queued_count")
    def queued(self, obj) -> int:
        return obj.queued_count

    @admin.display(description="sending", ordering="sending_count")
    def sending(self, obj) -> int:
        return obj.sending_count

    @admin.display(description="failed (1 h)", ordering="failed_count")
    def failed_last_hour(self, obj) -> str:
        return pill("pill-bad", obj.failed_count) if obj.failed_count else "0"

    @admin.display(description="oldest queued", ordering="oldest_queued")
    def oldest_age(self, obj) -> str:
        return timesince(obj.oldest_queued) if obj.oldest_queued else "—"

    @admin.display(description="sending state", ordering="health")
    def health_pill(self, obj) -> str:
        if obj.health == Channel.Health.OK:
            return pill("pill-ok", "sending")
        return pill("pill-bad", "stopped: credentials", title=obj.health_reason)

    @admin.action(description="Resume sending on the selected channels (after fixing their credentials)")
    def resume(self, request: HttpRequest, queryset: QuerySet[OutboxChannel]) -> None:
        done = sum(
            company_services.set_channel_health(channel=channel, health=Channel.Health.OK)
            for channel in queryset.exclude(health=Channel.Health.OK)
        )
        outbound.kick_outbox()
        self.message_user(request, f"{done} channels resumed.", messages.SUCCESS)


class ClosedFilter(admin.SimpleListFilter):
    title = "open or closed"
    parameter_name = "closed"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("closed", "Closed")]

    def queryset(self, request, queryset):
        if self.value() in ("open", "closed"):
            return queryset.filter(closed_at__isnull=self.value() == "open")
        return queryset


# A session's page shows at most this many of its newest messages; the message list has them all.
THREAD_LIMIT = 300
AUTHOR_COLOURS = {"customer": "#f3f4f6", "bot": "#eff6ff", "agent": "#ecfdf5", "business": "#fefce8"}


@admin.register(Session)
class SessionAdmin(BigTableAdmin):
    """Read-only: a session changes only through ``services.sessions`` (the bot, Chatwoot, the API)."""

    company_path = "company"
    isp_admin_permissions = READ_ONLY

    list_display = [
        "protocol",
        "contact",
        "state",
        "handoff_pill",
        "customer_name",
        "created_at",
        "last_activity_at",
        "closed",
    ]
    list_filter = ["handoff", "state", ClosedFilter, "close_reason", "company"]
    list_select_related = ["company", "contact", "customer"]
    search_fields = ["protocol", "contact__phone", "contact__name"]
    date_hierarchy = "created_at"
    fields = [
        ("protocol", "company"),
        ("contact", "customer_masked"),
        ("state", "handoff", "handed_off_at"),
        ("chatwoot_conversation_id", "bot_paused_until"),
        "tag_names",
        ("created_at", "last_activity_at"),
        ("closed_at", "close_reason"),
        "thread",
    ]
    readonly_fields = [
        "protocol",
        "company",
        "contact",
        "customer_masked",
        "state",
        "handoff",
        "handed_off_at",
        "chatwoot_conversation_id",
        "bot_paused_until",
        "tag_names",
        "created_at",
        "last_activity_at",
        "closed_at",
        "close_reason",
        "thread",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="handoff", ordering="handoff")
    def handoff_pill(self, obj: Session) -> str:
        css = "pill-warn" if obj.handoff == Session.Handoff.AGENT else "pill-muted"
        return pill(css, obj.get_handoff_display())

    @admin.display(description="customer", ordering="customer__name")
    def customer_name(self, obj: Session) -> str:
        return f"{obj.customer.name or '?'} ({obj.customer.customer_code})" if obj.customer else "—"

    @admin.display(description="customer")
    def customer_masked(self, obj: Session) -> str:
        link = obj.customer
        if link is None:
            return "—"
        document = mask_document(link.document) if link.document else "no CPF/CNPJ"
        confirmed = "confirmed" if link.confirmed else "not confirmed"
        return f"{link.name or '?'}: code {link.customer_code}, {document}, {confirmed}"

    @admin.display(description="closed", ordering="closed_at")
    def closed(self, obj: Session) -> str:
        if obj.closed_at is None:
            return pill("pill-ok", "open")
        return pill("pill-muted", obj.get_close_reason_display() or "closed", title=f"{obj.closed_at:%Y-%m-%d %H:%M}")

    @admin.display(description="tags")
    def tag_names(self, obj: Session) -> str:
        return ", ".join(tag.name for tag in obj.tags.order_by("name")) or "—"

    @admin.display(description="messages")
    def thread(self, obj: Session) -> str:
        """The session's messages, oldest first, as the conversation read: who, when, what, how far it got."""
        newest = list(obj.messages.order_by("-created_at", "-pk")[: THREAD_LIMIT + 1])
        if not newest:
            return "—"
        tz = zoneinfo.ZoneInfo(obj.company.timezone)
        rows = format_html_join(
            "",
            '<tr style="background: {}"><td style="white-space: nowrap">{}</td><td>{}</td>'
            '<td style="white-space: pre-wrap">{}</td><td>{}</td></tr>',
            (
                (
                    AUTHOR_COLOURS.get(message.author, "#ffffff"),
                    timezone.localtime(message.created_at, tz).strftime("%d/%m %H:%M:%S"),
                    message.get_author_display(),
                    readable_text(message),
                    _status(message),
                )
                for message in reversed(newest[:THREAD_LIMIT])
            ),
        )
        everything = reverse("admin:conversations_message_changelist") + f"?session__id__exact={obj.pk}"
        note = (
            format_html('<p>The newest {} messages. <a href="{}">All of them</a>.</p>', THREAD_LIMIT, everything)
            if len(newest) > THREAD_LIMIT
            else ""
        )
        return format_html(
            '{}<table class="thread"><thead><tr><th>time</th><th>author</th><th>text</th><th>status</th></tr>'
            "</thead><tbody>{}</tbody></table>",
            note,
            rows,
        )


def _status(message: Message) -> str:
    reason = " ".join(part for part in (message.error_code, message.error_reason) if part)
    if reason:
        return pill(STATE_PILLS.get(message.status, "pill-muted"), message.get_status_display(), title=reason)
    return state_pill(message.status, message.get_status_display())


@admin.register(CustomerLink)
class CustomerLinkAdmin(CompanyScopedAdmin):
    """Read-only, the CPF/CNPJ masked: the bot links customers (``services.sessions.link_customer``)."""

    company_path = "company"
    isp_admin_permissions = READ_ONLY

    list_display = ["name", "customer_code", "masked_document", "contact", "confirmed", "company", "updated_at"]
    list_filter = ["confirmed", "company"]
    list_select_related = ["company", "contact"]
    search_fields = ["customer_code", "name", "contact__phone"]
    fields = ["company", "contact", "customer_code", "name", "masked_document", "confirmed", "created_at", "updated_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="CPF/CNPJ")
    def masked_document(self, obj: CustomerLink) -> str:
        return mask_document(obj.document) if obj.document else "—"


@admin.register(Tag)
class TagAdmin(CompanyScopedAdmin):
    company_path = "company"
    isp_admin_permissions = EVERYTHING
    list_display = ["name", "company", "session_count", "created_at"]
    list_filter = ["company"]
    list_select_related = ["company"]
    search_fields = ["name"]
    fields = ["company", "name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tag]:
        return super().get_queryset(request).annotate(session_total=Count("sessions"))

    @admin.display(description="sessions", ordering="session_total")
    def session_count(self, obj) -> int:
        return obj.session_total


class BotTextForm(forms.ModelForm):
    """The key is one the bot says (a text under another key would never be shown)."""

    key = forms.ChoiceField(choices=[(key, key) for key in sorted(texts.DEFAULTS)])

    class Meta:
        model = BotText
        fields = ["company", "key", "text"]


@admin.register(BotText)
class BotTextAdmin(CompanyScopedAdmin):
    """A company's own wording of a bot text, by key; where none is set the bot says its pt-BR default."""

    company_path = "company"
    isp_admin_permissions = EVERYTHING

    form = BotTextForm
    list_display = ["key", "company", "short_text", "short_default", "updated_at"]
    list_filter = ["company", "key"]
    list_select_related = ["company"]
    search_fields = ["key", "text"]
    fields = ["company", "key", "text", "default_text"]
    readonly_fields = ["default_text"]

    @admin.display(description="text")
    def short_text(self, obj: BotText) -> str:
        return _short(obj.text)

    @admin.display(description="default")
    def short_default(self, obj: BotText) -> str:
        return _short(texts.DEFAULTS.get(obj.key, ""))

    @admin.display(description="default (pt-BR)")
    def default_text(self, obj: BotText | None) -> str:
        """The bot's own wording of each key and the values it fills in, to start from."""
        keys = [obj.key] if obj is not None and obj.key in texts.DEFAULTS else sorted(texts.DEFAULTS)
        return format_html(
            '<dl class="bot-defaults">{}</dl>',
            format_html_join(
                "",
                "<dt><code>{}</code>{}</dt><dd>{}</dd>",
                ((key, _values(texts.DEFAULTS[key]), texts.DEFAULTS[key]) for key in keys),
            ),
        )


def _short(text: str) -> str:
    return (text[:80] + "…") if len(text) > 80 else text


def _values(default: str) -> str:
    names = sorted({name for _, name, _, _ in string.Formatter().parse(default) if name} | {"company"})
    return " — values: " + ", ".join(f"{{{name}}}" for name in names)
