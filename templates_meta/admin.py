"""Operators' panel for Meta templates: status badges, an editor with a live preview, and Meta's actions.

Every action calls ``templates_meta.meta`` and reports Meta's refusals in words (``message_user``);
PAUSED and DISABLED templates say on their page that they are not sent, and why.
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from companies.admin_scoping import EVERYTHING, READ_ONLY, CompanyScopedAdmin, CompanyScopedInline, for_request
from companies.models import Channel, Company
from config.admin_display import pill
from config.exceptions import DomainError
from templates_meta import meta
from templates_meta.forms import TemplateForm, TemplatePurposeForm
from templates_meta.models import Template, TemplatePurpose, TemplateStatusChange

Status = Template.Status
META_ERRORS = (DomainError, meta.TemplateApiError)  # what the actions report in words; anything else is a bug

STATUS_PILLS = {
    Status.APPROVED: "pill-ok",
    Status.PENDING: "pill-warn",
    Status.IN_APPEAL: "pill-warn",
    Status.PENDING_DELETION: "pill-warn",
    Status.REJECTED: "pill-bad",
    Status.PAUSED: "pill-bad",
    Status.DISABLED: "pill-bad",
    Status.LIMIT_EXCEEDED: "pill-bad",
}
# Meta's quality_score.score, with the words WhatsApp Manager uses (meta_cloud_api.md §10.4).
QUALITY = {
    "GREEN": ("pill-ok", "High"),
    "YELLOW": ("pill-warn", "Medium"),
    "RED": ("pill-bad", "Low"),
    "UNKNOWN": ("pill-muted", "Quality pending"),
}
# Meta's reasons (message_template_status_update ``reason`` and pause titles, meta_cloud_api.md §4.1), in words.
REASONS = {
    "ABUSIVE_CONTENT": "Meta found the content abusive or against its policies.",
    "INCORRECT_CATEGORY": "The category does not match the content (e.g. marketing sent as utility).",
    "INVALID_FORMAT": "The format is wrong (variables, examples or components).",
    "PROMOTIONAL": "The content is promotional: submit it as MARKETING, or remove the promotion.",
    "SCAM": "Meta suspects the content of being a scam.",
    "TAG_CONTENT_MISMATCH": "The content does not match the category or language chosen.",
    "FIRST_PAUSE": "First pause for low quality (3 hours).",
    "SECOND_PAUSE": "Second pause for low quality (6 hours); a third one disables the template.",
    "RATE_LIMITING_PAUSE": "Paused while Meta assesses its quality (pacing).",
}


def status_pill(status: str, label: str, title: str = "") -> str:
    return pill(STATUS_PILLS.get(status, "pill-muted"), label, title=title)


def reason_in_words(reason: str) -> str:
    return f"{reason}: {REASONS[reason]}" if reason in REASONS else reason


NOT_SENT_BANNERS = {
    Status.PAUSED: (
        "pill-bad",
        "Paused: not used for sending",
        "Meta paused it because its quality dropped to low (customers blocked or reported it). Sends fail with "
        "Meta error 132015 until Meta unpauses it: 3 hours after the first pause, 6 after the second; a third "
        "pause disables it. Improve the text and submit the edit.",
    ),
    Status.DISABLED: (
        "pill-bad",
        "Disabled: not used for sending",
        "Meta disabled it after it was paused for low quality too many times. It can no longer be sent, edited or "
        "deleted: create a new template with another name and point the purposes below to it.",
    ),
    Status.REJECTED: (
        "pill-warn",
        "Rejected by Meta",
        "Meta rejected it. Fix what the reason says and use “Save and submit to Meta” to send the edit.",
    ),
}


def not_sent_banner(template: Template) -> dict[str, Any] | None:
    """What the change page says above the form when the template cannot be sent (or just failed review)."""
    if template.status not in NOT_SENT_BANNERS:
        return None  # before the queries below: most change pages show no banner
    css, title, text = NOT_SENT_BANNERS[template.status]
    latest = template.status_changes.filter(status=template.status).exclude(reason="").first()
    reason = reason_in_words(template.rejection_reason or (latest.reason if latest else ""))
    purposes = ", ".join(p.get_purpose_display() for p in template.purposes.all())
    used_by = f"Notices for {purposes} are not sent with it meanwhile." if purposes else ""
    return {"css": css, "title": title, "text": text, "reason": reason, "used_by": used_by}


class StatusChangeInline(CompanyScopedInline, admin.TabularInline):
    model = TemplateStatusChange
    isp_admin_permissions = READ_ONLY
    extra = 0
    can_delete = False
    verbose_name = "status change"
    verbose_name_plural = "status history"
    fields = ["at", "status_badge", "event", "source", "reason_words"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="status")
    def status_badge(self, obj: TemplateStatusChange) -> str:
        return status_pill(obj.status, obj.get_status_display())

    @admin.display(description="reason")
    def reason_words(self, obj: TemplateStatusChange) -> str:
        return reason_in_words(obj.reason) or "—"


@admin.register(Template)
class TemplateAdmin(CompanyScopedAdmin):
    form = TemplateForm
    company_path = "company"
    isp_admin_permissions = EVERYTHING  # its own templates, and Meta's actions on them
    list_display = [
        "name",
        "language",
        "status_badge",
        "category",
        "quality_badge",
        "warning",
        "company",
        "last_synced_at",
    ]
    list_filter = ["company", "status", "category", "language"]
    search_fields = ["name"]
    list_select_related = ["company"]
    autocomplete_fields = ["company"]
    inlines = [StatusChangeInline]
    actions = ["submit_to_meta", "sync_from_meta", "delete_at_meta"]
    readonly_fields = [
        "status_badge",
        "rejection_words",
        "quality_badge",
        "warning",
        "warning_until",
        "meta_template_id",
        "last_synced_at",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["company", "waba_id", ("name", "language"), ("category", "parameter_format")]}),
        ("Message", {"fields": ["components"]}),
        (
            "At Meta",
            {
                "fields": [
                    ("status_badge", "quality_badge"),
                    "rejection_words",
                    ("warning", "warning_until"),
                    ("meta_template_id", "last_synced_at"),
                    ("created_at", "updated_at"),
                ]
            },
        ),
    ]

    # ------------------------------------------------------------------ columns

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Template) -> str:
        return status_pill(obj.status, obj.get_status_display(), reason_in_words(obj.rejection_reason))

    @admin.display(description="quality", ordering="quality_score")
    def quality_badge(self, obj: Template) -> str:
        css, label = QUALITY.get(obj.quality_score, ("pill-muted", obj.quality_score or "—"))
        return pill(css, label)

    @admin.display(description="reason given by Meta")
    def rejection_words(self, obj: Template) -> str:
        return reason_in_words(obj.rejection_reason) or "—"

    # ------------------------------------------------------------------ form

    def get_readonly_fields(self, request: HttpRequest, obj: Template | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.meta_template_id:
            fields += ["company", "waba_id", "name", "language"]  # Meta cannot rename or move a template
        if obj is not None and obj.status == Status.APPROVED:
            fields.append("category")  # nor change an approved one's category (§10.2)
        return fields

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra = {
            "status_banner": not_sent_banner(obj) if obj else None,
            "can_submit_to_meta": obj is not None and self.has_change_permission(request, obj),
        }
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        extra = {"can_submit_to_meta": self.has_add_permission(request)}
        return super().add_view(request, form_url, {**extra, **(extra_context or {})})

    def response_add(self, request: HttpRequest, obj: Template, post_url_continue=None) -> HttpResponse:
        if "_submit_to_meta" in request.POST:
            self._submit(request, obj)
            return HttpResponseRedirect(reverse("admin:templates_meta_template_change", args=[obj.pk]))
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Template) -> HttpResponse:
        if "_submit_to_meta" in request.POST:
            self._submit(request, obj)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    # ------------------------------------------------------------------ actions

    def _submit(self, request: HttpRequest, template: Template) -> bool:
        try:
            meta.submit_template(template=template)
        except META_ERRORS as exc:
            self.message_user(request, f"Template {template} was not submitted. {exc}", messages.ERROR)
            return False
        self.message_user(
            request,
            f"Template {template} was submitted to Meta ({template.get_status_display()}); "
            "Meta's review takes up to 24 hours.",
            messages.SUCCESS,
        )
        return True

    @admin.action(description="Submit to Meta (create, or edit when Meta allows it)", permissions=["change"])
    def submit_to_meta(self, request: HttpRequest, queryset: QuerySet[Template]) -> None:
        for template in queryset.select_related("company"):
            self._submit(request, template)

    def _sync(self, request: HttpRequest, company: Company, waba_id: str) -> None:
        try:
            counts = meta.sync_waba(company=company, waba_id=waba_id)
        except META_ERRORS as exc:
            self.message_user(request, f"WABA {waba_id} ({company}) was not synced. {exc}", messages.ERROR)
            return
        self.message_user(
            request,
            f"WABA {waba_id} ({company}) synced from Meta: {counts['created']} new, {counts['updated']} updated, "
            f"{counts['deleted']} marked deleted.",
            messages.SUCCESS,
        )

    @admin.action(description="Sync all templates of these WABAs from Meta", permissions=["change"])
    def sync_from_meta(self, request: HttpRequest, queryset: QuerySet[Template]) -> None:
        pairs = sorted(set(queryset.order_by().values_list("company_id", "waba_id")))
        companies = Company.objects.in_bulk({company_id for company_id, _ in pairs})
        for company_id, waba_id in pairs:
            self._sync(request, companies[company_id], waba_id)

    @admin.action(description="Delete at Meta (only this language)…", permissions=["delete"])
    def delete_at_meta(self, request: HttpRequest, queryset: QuerySet[Template]) -> HttpResponse | None:
        if request.POST.get("confirmed") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Delete these templates at Meta?",
                "opts": self.opts,
                "templates": queryset.select_related("company"),
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/templates_meta/template/delete_at_meta.html", context)
        for template in queryset.select_related("company"):
            try:
                meta.delete_at_meta(template=template)
            except META_ERRORS as exc:
                self.message_user(request, f"Template {template} was not deleted at Meta. {exc}", messages.ERROR)
            else:
                self.message_user(request, f"Template {template} was deleted at Meta.", messages.SUCCESS)
        return None

    # ------------------------------------------------------------------ sync page

    def get_urls(self):
        sync = path("sync/", self.admin_site.admin_view(self.sync_view), name="templates_meta_template_sync")
        return [sync, *super().get_urls()]

    def sync_view(self, request: HttpRequest) -> HttpResponse:
        """Every Cloud channel's WABA, to import or refresh its templates (also when none is stored yet)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        channels = (
            for_request(request, Channel.objects.filter(kind=Channel.Kind.CLOUD), "company")
            .exclude(waba_id="")
            .select_related("company")
            .order_by("company__name", "waba_id", "pk")
        )
        wabas: dict[tuple[int, str], dict[str, Any]] = {}
        for channel in channels:
            row = wabas.setdefault(
                (channel.company_id, channel.waba_id),
                {"company": channel.company, "waba_id": channel.waba_id, "channels": []},
            )
            row["channels"].append(channel.name)
        stats = (
            self.get_queryset(request)
            .values("company_id", "waba_id")
            .annotate(count=Count("pk"), synced=Max("last_synced_at"))
        )
        for stat in stats:
            if (stat["company_id"], stat["waba_id"]) in wabas:
                wabas[(stat["company_id"], stat["waba_id"])].update(count=stat["count"], synced=stat["synced"])
        if request.method == "POST":
            chosen = request.POST.get("waba", "")
            for (company_id, waba_id), row in wabas.items():
                if chosen in ("all", f"{company_id}:{waba_id}"):
                    self._sync(request, row["company"], waba_id)
            return HttpResponseRedirect(reverse("admin:templates_meta_template_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Sync templates from Meta",
            "opts": self.opts,
            "wabas": list(wabas.values()),
        }
        return TemplateResponse(request, "admin/templates_meta/template/sync.html", context)


@admin.register(TemplatePurpose)
class TemplatePurposeAdmin(CompanyScopedAdmin):
    form = TemplatePurposeForm
    company_path = "company"
    isp_admin_permissions = EVERYTHING
    list_display = ["purpose", "company", "template", "template_state"]
    list_filter = ["company", "purpose"]
    list_select_related = ["company", "template"]
    search_fields = ["company__name", "template__name"]
    autocomplete_fields = ["company"]
    readonly_fields = ["template_state"]
    fields = ["company", "purpose", "template", "template_state", "parameters"]

    @admin.display(description="template state")
    def template_state(self, obj: TemplatePurpose) -> str:
        template = obj.template
        if template is None:
            return pill("pill-bad", "no template: not sent")
        if template.status == Status.APPROVED:
            return status_pill(template.status, "approved: sent")
        reason = reason_in_words(template.rejection_reason)
        return status_pill(template.status, f"{template.get_status_display()}: not sent", reason)
