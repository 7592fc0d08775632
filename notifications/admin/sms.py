"""SMS in the admin: each request with its numbers, and the numbers by state (failed today, sending...).

Everything is read-only: rows change only through the sending services. Nothing of the company's
gateway settings is shown here (the password is a write-only field of the company's own page).
"""

from django.contrib import admin, messages
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest

from companies.admin_scoping import READ_ONLY, CompanyScopedInline
from config.admin_display import pill
from conversations.admin import BigTableAdmin
from notifications.models import SmsMessage, SmsRecipient
from notifications.sms import numbers, services

Status = SmsRecipient.Status
STATUS_PILLS = {
    Status.QUEUED: "pill-warn",
    Status.SENDING: "pill-warn",
    Status.SENT: "pill-ok",
    Status.FAILED: "pill-bad",
}


def status_pill(recipient: SmsRecipient) -> str:
    return pill(STATUS_PILLS.get(recipient.status, "pill-muted"), recipient.get_status_display(), title=recipient.error)


def _search_by_number(queryset: QuerySet, term: str, *, phone_field: str) -> QuerySet | None:
    """Rows for a number as an operator types it ("(44) 99888-7777"), or None when ``term`` is not one."""
    number = numbers.sms_number(term)
    if not number:
        return None
    return queryset.filter(**{phone_field: number})


class ReadOnlyAdmin(BigTableAdmin):
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class RecipientInline(CompanyScopedInline, admin.TabularInline):
    model = SmsRecipient
    isp_admin_permissions = READ_ONLY
    extra = 0
    can_delete = False
    fields = [
        "phone",
        "state",
        "attempts",
        "status_at",
        "next_attempt_at",
        "sent_at",
        "error_code",
        "error",
        "gateway_answer",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="status")
    def state(self, obj: SmsRecipient) -> str:
        return status_pill(obj)


class RecipientStatusFilter(admin.SimpleListFilter):
    title = "a number's status"
    parameter_name = "number_status"

    def lookups(self, request, model_admin):
        return Status.choices

    def queryset(self, request, queryset):
        if self.value() in Status.values:
            return queryset.filter(Exists(SmsRecipient.objects.filter(message=OuterRef("pk"), status=self.value())))
        return queryset


@admin.register(SmsMessage)
class SmsMessageAdmin(ReadOnlyAdmin):
    company_path = "company"
    isp_admin_permissions = READ_ONLY
    list_display = ["id", "created_at", "company", "short_text", "parts", "numbers_summary"]
    list_filter = [RecipientStatusFilter, "company", "created_at"]
    list_select_related = ["company"]
    search_fields = ["=id", "text", "idempotency_key"]
    search_help_text = "A number (any format), an id, words of the text or an Idempotency-Key."
    date_hierarchy = "created_at"
    fields = ["company", "created_at", "text", "parts", "idempotency_key"]
    readonly_fields = fields
    inlines = [RecipientInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[SmsMessage]:
        counts = {f"{status}_count": Count("recipients", filter=Q(recipients__status=status)) for status in Status}
        return super().get_queryset(request).annotate(**counts)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        found = _search_by_number(queryset, search_term, phone_field="recipients__phone")
        if found is not None:
            return found.distinct(), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="text")
    def short_text(self, obj: SmsMessage) -> str:
        return (obj.text[:80] + "…") if len(obj.text) > 80 else obj.text

    @admin.display(description="numbers")
    def numbers_summary(self, obj: SmsMessage) -> str:
        shown = [
            pill(STATUS_PILLS[status], f"{getattr(obj, f'{status}_count')} {label.lower()}")
            for status, label in Status.choices
            if getattr(obj, f"{status}_count", 0)
        ]
        return " ".join(shown) or "—"


@admin.register(SmsRecipient)
class SmsRecipientAdmin(ReadOnlyAdmin):
    company_path = "message__company"
    isp_admin_permissions = READ_ONLY  # sending again is the operators'
    list_display = ["phone", "sms", "company", "state", "attempts", "status_at", "sent_at", "error_code"]
    list_filter = ["status", "message__company", "status_at", "error_code"]
    list_select_related = ["message__company"]
    search_fields = ["=phone"]
    search_help_text = "A number, in any format."
    date_hierarchy = "status_at"
    fields = [
        "sms",
        "phone",
        "status",
        "status_at",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "error_code",
        "error",
        "gateway_answer",
    ]
    readonly_fields = fields
    actions = ["resend"]

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        found = _search_by_number(queryset, search_term, phone_field="phone")
        if found is not None:
            return found, False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="SMS", ordering="message")
    def sms(self, obj: SmsRecipient) -> SmsMessage:
        return obj.message

    @admin.display(description="company", ordering="message__company__name")
    def company(self, obj: SmsRecipient) -> str:
        return str(obj.message.company)

    @admin.display(description="status", ordering="status")
    def state(self, obj: SmsRecipient) -> str:
        return status_pill(obj)

    @admin.action(description="Send the selected failed numbers again (one that may have been sent can get it twice)")
    def resend(self, request: HttpRequest, queryset: QuerySet[SmsRecipient]) -> None:
        failed = queryset.filter(status=Status.FAILED).values_list("pk", flat=True)
        done = services.resend(recipient_ids=list(failed))
        self.message_user(request, f"{done} numbers queued again.", messages.SUCCESS)
