"""Operators' views of the inbound pipeline: webhook events (with replay), messages, contacts, notices."""

import datetime as dt
import json

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import Count, Min, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.timesince import timesince

from companies import services as company_services
from companies.models import Channel
from config.admin_display import pill
from config.masking import mask_text
from conversations.models import (
    AccountNotice,
    Contact,
    Message,
    MessageStatusChange,
    OutboxChannel,
    PendingStatus,
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


class BigTableAdmin(admin.ModelAdmin):
    paginator = NoCountPaginator
    show_full_result_count = False
    list_per_page = 50


@admin.register(WebhookEvent)
class WebhookEventAdmin(BigTableAdmin):
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


class StatusChangeInline(admin.TabularInline):
    model = MessageStatusChange
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
    list_display = ["provider_id", "status", "at", "company", "error_code", "created_at"]
    list_filter = ["status", "company"]
    search_fields = ["=provider_id"]
    readonly_fields = [f.name for f in PendingStatus._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AccountNotice)
class AccountNoticeAdmin(BigTableAdmin):
    list_display = ["field", "summary", "company", "channel", "handled", "received_at"]
    list_filter = ["field", "handled", "company"]
    list_select_related = ["company", "channel"]
    readonly_fields = [f.name for f in AccountNotice._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(OutboxChannel)
class OutboxAdmin(admin.ModelAdmin):
    """Per channel: what waits, what is being sent, what failed in the last hour, how old the oldest is."""

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
