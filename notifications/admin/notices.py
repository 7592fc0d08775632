"""Notices in the admin: what was asked, each recipient and its messages, and the reminder steps done."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from companies.admin_scoping import READ_ONLY, CompanyScopedInline
from conversations.admin import BigTableAdmin, state_pill
from notifications.models import Notice, NoticeRecipient, ReminderRun, ReminderStep


class ReadOnlyAdmin(BigTableAdmin):
    """Written by the API and the jobs only: operators read them."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class RecipientInline(CompanyScopedInline, admin.TabularInline):
    model = NoticeRecipient
    isp_admin_permissions = READ_ONLY
    fields = ["phone", "failure", "message_statuses"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.display(description="messages")
    def message_statuses(self, obj: NoticeRecipient) -> str:
        rows = [
            (reverse("admin:conversations_message_change", args=[m.pk]), m.get_type_display(), state_pill(m.status))
            for m in obj.messages.order_by("pk")
        ]
        return format_html_join(" ", '<a href="{}">{}</a> {}', rows) or "—"


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    company_path = "company"
    isp_admin_permissions = READ_ONLY
    list_display = ["id", "created_at", "company", "kind", "event", "customer_code", "customer_name", "outcome"]
    list_filter = ["kind", "event", "company"]
    search_fields = ["=customer_code", "customer_name", "recipients__phone"]
    date_hierarchy = "created_at"
    list_select_related = ["company"]
    inlines = [RecipientInline]
    readonly_fields = ["company", "kind", "event", "customer_code", "customer_name", "contract_id", "invoice_ids"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notice]:
        return super().get_queryset(request).prefetch_related("recipients")

    @admin.display(description="recipients")
    def outcome(self, obj: Notice) -> str:
        recipients = list(obj.recipients.all())
        failed = sum(bool(r.failure) for r in recipients)
        if failed:
            return format_html("{} of {} not sent {}", failed, len(recipients), state_pill("failed"))
        return f"{len(recipients)} queued"


@admin.register(ReminderStep)
class ReminderStepAdmin(ReadOnlyAdmin):
    company_path = "company"
    isp_admin_permissions = READ_ONLY
    list_display = ["created_at", "company", "invoice_id", "days", "due_date", "outcome", "notice"]
    list_filter = ["days", "company"]
    search_fields = ["=invoice_id"]
    date_hierarchy = "created_at"
    list_select_related = ["company", "notice"]


@admin.register(ReminderRun)
class ReminderRunAdmin(ReadOnlyAdmin):
    company_path = "company"
    isp_admin_permissions = READ_ONLY
    list_display = ["day", "company", "started_at", "finished_at", "outcome"]
    list_filter = ["company"]
    date_hierarchy = "day"
    list_select_related = ["company"]
