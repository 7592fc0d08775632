"""Campaigns in the admin: create one with its CSV, start / pause / resume / cancel, and watch its progress.

A campaign's numbers, files and refused rows are read-only: they change only through the campaign
services and the engine, as they do from the API.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from companies.admin_scoping import READ_ONLY, CompanyScopedAdmin, CompanyScopedInline
from config.admin_display import pill
from config.exceptions import DomainError
from notifications.admin.sms import ReadOnlyAdmin
from notifications.campaigns import services
from notifications.models import Campaign, CampaignRecipient, CampaignRowError, CampaignUpload

CAMPAIGN_PILLS = {
    Campaign.Status.DRAFT: "pill-muted",
    Campaign.Status.SCHEDULED: "pill-warn",
    Campaign.Status.RUNNING: "pill-ok",
    Campaign.Status.PAUSED: "pill-warn",
    Campaign.Status.FINISHED: "pill-ok",
    Campaign.Status.CANCELLED: "pill-bad",
}
RECIPIENT_PILLS = {
    CampaignRecipient.Status.PENDING: "pill-muted",
    CampaignRecipient.Status.QUEUED: "pill-warn",
    CampaignRecipient.Status.SENT: "pill-ok",
    CampaignRecipient.Status.DELIVERED: "pill-ok",
    CampaignRecipient.Status.READ: "pill-ok",
    CampaignRecipient.Status.REPLIED: "pill-ok",
    CampaignRecipient.Status.FAILED: "pill-bad",
    CampaignRecipient.Status.CANCELLED: "pill-muted",
}


def progress_bar(campaign: Campaign) -> str:
    figures = services.stats(campaign)
    label = f"{figures['recipients'] - figures['pending']} of {figures['recipients']}"
    if figures["importing"]:
        label += " (importing…)"
    return format_html(
        '<div class="progress" title="{}"><div class="progress-bar" style="width: {}%"></div></div>'
        '<span class="progress-label">{}% · {}</span>',
        f"delivered or read {figures['reached']}, replied {figures['replied']}, failed {figures['failed']}",
        figures["progress"],
        figures["progress"],
        label,
    )


class CampaignForm(forms.ModelForm):
    csv = forms.FileField(
        label="CSV of recipients",
        help_text="A phone column (phone, telefone, celular, whatsapp…) and a column per template field; "
        "UTF-8 or Windows-1252, separated by , or ;.",
    )

    class Meta:
        model = Campaign
        fields = [
            "company",
            "name",
            "template_name",
            "template_language",
            "channel",
            "messages_per_minute",
            "start_at",
            "columns",
            "fixed",
        ]

    def clean_messages_per_minute(self) -> int:
        value = self.cleaned_data["messages_per_minute"]
        if not 1 <= value <= services.MAX_MESSAGES_PER_MINUTE:
            raise ValidationError(f"From 1 to {services.MAX_MESSAGES_PER_MINUTE}.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        channel, company = data.get("channel"), data.get("company")
        if channel is not None and company is not None and channel.company_id != company.pk:
            self.add_error("channel", "A channel of the campaign's company.")
        if self.errors or company is None:
            return data
        draft = Campaign(**{name: data.get(name) for name in CampaignForm.Meta.fields})
        try:  # what the services would refuse, said on the form rather than after saving
            services.check_draft(draft, file=data["csv"].file)
        except DomainError as exc:
            raise ValidationError(exc.message) from None
        return data


class UploadInline(CompanyScopedInline, admin.TabularInline):
    model = CampaignUpload
    isp_admin_permissions = READ_ONLY
    extra = 0
    can_delete = False
    fields = ["filename", "status", "rows", "valid", "invalid", "duplicates", "error", "created_at", "finished_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _act(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, act, verb: str) -> None:
    done, refused = 0, []
    for campaign in queryset:
        try:
            act(campaign)
            done += 1
        except DomainError as exc:
            refused.append(f"{campaign}: {exc.message}")
    if done:
        modeladmin.message_user(request, f"{done} campaign(s) {verb}.", messages.SUCCESS)
    for line in refused:
        modeladmin.message_user(request, line, messages.WARNING)


@admin.register(Campaign)
class CampaignAdmin(CompanyScopedAdmin):
    form = CampaignForm
    company_path = "company"
    # Its own campaigns, as its API key could send them; their rows are the engine's.
    isp_admin_permissions = frozenset({"view", "add", "change"})
    list_display = ["name", "company", "status_pill", "progress", "template_name", "messages_per_minute", "created_at"]
    list_filter = ["status", "company", "created_at"]
    list_select_related = ["company"]
    search_fields = ["name", "template_name"]
    date_hierarchy = "created_at"
    inlines = [UploadInline]
    actions = ["start", "pause", "resume", "cancel"]
    readonly_fields = ["status", "paused_reason", "progress", "started_at", "finished_at"]

    def get_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list[str]:
        if obj is None:
            return [*CampaignForm.Meta.fields, "csv"]
        return ["name", "status", "paused_reason", "progress", "started_at", "finished_at"]

    def get_inlines(self, request: HttpRequest, obj: Campaign | None = None) -> list:
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list[str]:
        return ["name", *self.readonly_fields] if obj is not None else []

    @admin.display(description="status", ordering="status")
    def status_pill(self, obj: Campaign) -> str:
        return pill(CAMPAIGN_PILLS.get(obj.status, "pill-muted"), obj.get_status_display(), title=obj.paused_reason)

    @admin.display(description="progress")
    def progress(self, obj: Campaign) -> str:
        return progress_bar(obj) if obj.pk else "-"

    def save_model(self, request: HttpRequest, obj: Campaign, form: CampaignForm, change: bool) -> None:
        if change:
            return  # nothing of a campaign is edited here; its actions change it
        upload = form.cleaned_data["csv"]
        campaign = services.create_campaign(
            company=obj.company,
            name=obj.name,
            template_name=obj.template_name,
            template_language=obj.template_language,
            channel=obj.channel,
            messages_per_minute=obj.messages_per_minute,
            start_at=obj.start_at,
            columns=obj.columns,
            fixed=obj.fixed,
        )
        services.add_upload(campaign=campaign, file=upload.file, filename=upload.name, size=upload.size)
        obj.pk = campaign.pk

    def save_form(self, request: HttpRequest, form: CampaignForm, change: bool) -> Campaign:
        return form.save(commit=False)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        if change:
            super().save_related(request, form, formsets, change)

    @admin.action(description="Start the selected campaigns", permissions=["change"])
    def start(self, request: HttpRequest, queryset: QuerySet) -> None:
        _act(self, request, queryset, services.start_campaign, "started")

    @admin.action(description="Pause the selected campaigns", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet) -> None:
        _act(self, request, queryset, services.pause_campaign, "paused")

    @admin.action(description="Resume the selected campaigns", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet) -> None:
        _act(self, request, queryset, services.resume_campaign, "resumed")

    @admin.action(description="Cancel the selected campaigns", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        _act(self, request, queryset, services.cancel_campaign, "cancelled")


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(ReadOnlyAdmin):
    company_path = "campaign__company"
    isp_admin_permissions = READ_ONLY
    list_display = ["phone", "campaign", "line", "state", "status_at", "failure"]
    list_filter = ["status", "campaign__company", "campaign"]
    list_select_related = ["campaign"]
    search_fields = ["=phone"]
    raw_id_fields = ["campaign", "upload", "message", "contact"]

    @admin.display(description="status", ordering="status")
    def state(self, obj: CampaignRecipient) -> str:
        return pill(RECIPIENT_PILLS.get(obj.status, "pill-muted"), obj.get_status_display(), title=obj.failure)


@admin.register(CampaignRowError)
class CampaignRowErrorAdmin(ReadOnlyAdmin):
    company_path = "upload__campaign__company"
    isp_admin_permissions = READ_ONLY
    list_display = ["line", "reason", "phone", "upload"]
    list_filter = ["upload__campaign__company", "upload__campaign"]
    list_select_related = ["upload"]
    search_fields = ["reason", "phone"]
