"""The operators' panel for companies, channels and keys."""

from django.contrib import admin, messages
from django.db import models
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from companies import (
    member_admin,  # noqa: F401  (registers the members' admin)
    services,
)
from companies.admin_scoping import (
    EVERYTHING,
    PLATFORM_ONLY,
    READ_ONLY,
    CompanyScopedAdmin,
    CompanyScopedInline,
)
from companies.forms import SecretFieldsForm, secret_formfield
from companies.members import member_of
from companies.models import ApiKey, Channel, Company, PlatformToken
from config.admin_display import pill
from config.fields import EncryptedTextField

STATE_PILLS = {
    Channel.ConnectionState.OPEN: "pill-ok",
    Channel.ConnectionState.CONNECTING: "pill-warn",
    Channel.ConnectionState.CLOSE: "pill-bad",
    Channel.ConnectionState.UNKNOWN: "pill-muted",
}


def connection_pill(channel: Channel) -> str:
    return pill(
        STATE_PILLS.get(channel.connection_state, "pill-muted"),
        channel.get_connection_state_display(),
        title=channel.connection_state_changed_at or "",
    )


class SecretAwareMixin:
    """Renders encrypted fields as write-only boxes (see ``companies.forms``)."""

    form = SecretFieldsForm
    # Django 6.0's default, stated so 5.2 (used on Python 3.11) behaves the same.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, EncryptedTextField):
            return secret_formfield(db_field)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class ChannelInline(CompanyScopedInline, SecretAwareMixin, admin.StackedInline):
    model = Channel
    isp_admin_permissions = EVERYTHING
    extra = 0
    show_change_link = True
    readonly_fields = ["connection_state", "connection_state_changed_at"]
    fieldsets = [
        (None, {"fields": [("kind", "name", "display_number"), ("is_active", "receives_inbound", "sends_notices")]}),
        (
            "Connection",
            {
                "fields": [
                    "api_base_url",
                    ("phone_number_id", "waba_id", "api_version"),
                    "access_token",
                    "instance_name",
                    "api_key",
                    ("throughput_mps", "send_delay_ms"),
                    ("connection_state", "connection_state_changed_at"),
                ],
                "description": "Cloud API: phone number id, WABA id and access token. Evolution: base URL and API key.",
            },
        ),
    ]


class ApiKeyInline(CompanyScopedInline, admin.TabularInline):
    model = ApiKey
    isp_admin_permissions = READ_ONLY
    extra = 0
    can_delete = False
    fields = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ConnectionStateListFilter(admin.SimpleListFilter):
    title = "channel connection"
    parameter_name = "connection"

    def lookups(self, request, model_admin):
        return [("down", "Has a disconnected channel"), ("ok", "All channels connected")]

    def queryset(self, request, queryset):
        if self.value() == "down":
            return queryset.filter(channels__connection_state=Channel.ConnectionState.CLOSE).distinct()
        if self.value() == "ok":
            return queryset.exclude(channels__connection_state__in=["close", "connecting"])
        return queryset


@admin.register(Company)
class CompanyAdmin(SecretAwareMixin, CompanyScopedAdmin):
    # An ISP admin edits its own company's settings; creating, deleting and (de)activating companies are the
    # platform's.
    company_path = "pk"
    isp_admin_permissions = frozenset({"view", "change"})
    ordering = ["name"]  # the list's count annotation drops Meta.ordering (a GROUP BY), autocomplete pages need one
    list_display = ["name", "status_pill", "contract", "channel_states", "active_keys", "erp_system", "updated_at"]
    list_filter = ["status", ConnectionStateListFilter, "erp_system", "channels__kind", "active_channel_policy"]
    search_fields = [
        "name",
        "=contract",
        "channels__display_number",
        "channels__phone_number_id",
        "channels__instance_name",
    ]
    readonly_fields = ["created_at", "updated_at", "webhook_urls"]
    inlines = [ChannelInline, ApiKeyInline]
    actions = ["activate", "deactivate"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "contract",
                    "status",
                    "support_phone",
                    ("timezone", "inactivity_minutes"),
                    "business_hours",
                ]
            },
        ),
        ("Webhooks", {"fields": ["webhook_urls", "meta_app_secret", "meta_verify_token"]}),
        (
            "Bot",
            {
                "fields": [
                    ("bot_enabled", "message_grouping_seconds", "max_invalid_answers"),
                    "bot_quiet_after_business_minutes",
                ]
            },
        ),
        (
            "Routing of active notices",
            {"fields": ["active_channel_policy", "evolution_fallback_to_cloud"]},
        ),
        (
            "Chatwoot",
            {
                "classes": ["collapse"],
                "fields": [
                    "chatwoot_base_url",
                    ("chatwoot_account_id", "chatwoot_inbox_id"),
                    "chatwoot_api_token",
                    ("chatwoot_webhook_secret", "chatwoot_signing_secret"),
                    ("chatwoot_resolve_on_inactivity", "chatwoot_tell_assignment"),
                ],
            },
        ),
        (
            "ERP",
            {
                "classes": ["collapse"],
                "fields": [
                    ("erp_system", "erp_verify_tls"),
                    "erp_base_url",
                    ("erp_username", "erp_password"),
                    "erp_token",
                    ("erp_client_id", "erp_client_secret"),
                ],
            },
        ),
        ("Billing reminders", {"fields": [("billing_reminder_days", "billing_reminder_hour")]}),
        (
            "PIX (Meta's Brazil payments)",
            {"classes": ["collapse"], "fields": [("pix_key_type", "pix_key"), "pix_merchant_name"]},
        ),
        ("SMS gateway", {"classes": ["collapse"], "fields": ["sms_url_template", "sms_username", "sms_password"]}),
        ("History", {"fields": [("created_at", "updated_at")]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Company]:
        return (
            super()
            .get_queryset(request)
            .prefetch_related("channels")
            .annotate(active_key_count=Count("api_keys", filter=Q(api_keys__revoked_at__isnull=True), distinct=True))
        )

    @admin.display(description="status", ordering="status")
    def status_pill(self, obj: Company) -> str:
        css = "pill-ok" if obj.is_active else "pill-muted"
        return pill(css, obj.get_status_display())

    @admin.display(description="channels")
    def channel_states(self, obj: Company) -> str:
        channels = list(obj.channels.all())
        if not channels:
            return pill("pill-muted", "no channel")
        return format_html_join(" ", "{} {}", ((c.name, connection_pill(c)) for c in channels))

    @admin.display(description="API keys", ordering="active_key_count")
    def active_keys(self, obj: Company) -> str:
        url = reverse("admin:companies_apikey_add") + f"?company={obj.pk}"
        return format_html('{} · <a href="{}">new key</a>', obj.active_key_count, url)

    @admin.display(description="webhook URLs")
    def webhook_urls(self, obj: Company) -> str:
        from django.conf import settings

        if not obj.pk:
            return "Shown after saving."
        base = settings.PUBLIC_URL
        rows = [
            ("Meta", f"{base}/webhooks/meta/?contract={obj.contract}"),
            ("Evolution", f"{base}/webhooks/evolution/{obj.contract}/"),
            ("Chatwoot", f"{base}/webhooks/chatwoot/{obj.contract}/<webhook secret>/"),
        ]
        return format_html_join(mark_safe("<br>"), "<strong>{}</strong>: <code>{}</code>", rows)

    def get_readonly_fields(self, request: HttpRequest, obj: Company | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if member_of(request.user) is not None:
            fields += ["contract", "status"]  # the platform's: URLs name the contract, status stops all sending
        return fields

    def save_model(self, request, obj: Company, form, change: bool) -> None:
        services.save_company(company=obj)

    def delete_model(self, request: HttpRequest, obj: Company) -> None:
        services.delete_company(company=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        for company in queryset:
            services.delete_company(company=company)

    def save_formset(self, request, form, formset, change: bool) -> None:
        if formset.model is not Channel:
            return super().save_formset(request, form, formset, change)
        changed = {form.instance.pk: frozenset(form.changed_data) for form in formset.forms}
        for channel in formset.save(commit=False):
            services.save_channel(channel=channel, changed=changed.get(channel.pk, frozenset()))
        for channel in formset.deleted_objects:
            services.delete_channel(channel=channel)
        return None

    @admin.action(description="Activate the selected companies")
    def activate(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        self._set_status(request, queryset, Company.Status.ACTIVE)

    @admin.action(description="Deactivate the selected companies (stop all sending)")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Company]) -> None:
        self._set_status(request, queryset, Company.Status.INACTIVE)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[Company], status: str) -> None:
        for company in queryset:
            services.update_company(company=company, data={"status": status})
        self.message_user(request, f"{queryset.count()} companies set to {status}.", messages.SUCCESS)


@admin.register(Channel)
class ChannelAdmin(SecretAwareMixin, CompanyScopedAdmin):
    company_path = "company"
    isp_admin_permissions = EVERYTHING  # its own numbers
    list_display = [
        "name",
        "company",
        "kind",
        "display_number",
        "state_pill",
        "is_active",
        "sends_notices",
        "updated_at",
    ]
    list_filter = ["connection_state", "kind", "is_active", "sends_notices", "company"]
    search_fields = ["name", "display_number", "phone_number_id", "waba_id", "instance_name", "company__name"]
    list_select_related = ["company"]
    autocomplete_fields = ["company"]
    readonly_fields = [
        "connection_state",
        "connection_state_changed_at",
        "connection_reason",
        "qr_code_image",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "company",
                    ("kind", "name", "display_number"),
                    ("is_active", "receives_inbound", "sends_notices"),
                ]
            },
        ),
        (
            "Cloud API (Meta)",
            {"fields": ["phone_number_id", "waba_id", "access_token", "api_version", "brazil_payments"]},
        ),
        ("Evolution API", {"fields": ["instance_name", "api_key"]}),
        (
            "Connection",
            {
                "fields": [
                    "api_base_url",
                    ("throughput_mps", "send_delay_ms"),
                    ("connection_state", "connection_state_changed_at"),
                    "connection_reason",
                    "qr_code_image",
                ]
            },
        ),
        ("History", {"fields": [("created_at", "updated_at")]}),
    ]

    @admin.display(description="connection", ordering="connection_state")
    def state_pill(self, obj: Channel) -> str:
        return connection_pill(obj)

    @admin.display(description="pairing QR code")
    def qr_code_image(self, obj: Channel) -> str:
        if obj.connection_state == Channel.ConnectionState.OPEN or not obj.qr_code.startswith("data:image/"):
            return "—"
        return format_html(
            '<img src="{}" alt="Scan with WhatsApp" width="240" height="240"><br><small>updated {}</small>',
            obj.qr_code,
            obj.qr_code_updated_at,
        )

    def save_model(self, request, obj: Channel, form, change: bool) -> None:
        services.save_channel(channel=obj, changed=frozenset(form.changed_data))


class KeyAdminBase(CompanyScopedAdmin):
    """Keys are created here and shown once, on the page that follows; afterwards only the prefix."""

    list_display = ["name", "owner", "prefix", "created_at", "last_used_at", "state_pill"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]
    show_full_result_count = False

    @admin.display(description="state", ordering="revoked_at")
    def state_pill(self, obj) -> str:
        if obj.revoked_at:
            return pill("pill-bad", f"revoked {obj.revoked_at.date()}")
        return pill("pill-ok", "active")

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else [*self.add_fields, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        return [*self.add_fields, *self.readonly_fields] if obj else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead, so the audit trail (prefix, last use) stays

    @admin.action(description="Revoke the selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset) -> None:
        for key in queryset.filter(revoked_at__isnull=True):
            services.revoke_key(key=key)
        self.message_user(request, "Revoked.", messages.SUCCESS)

    def response_add(self, request: HttpRequest, obj, post_url_continue=None) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{self.opts.verbose_name.capitalize()} created",
            "key": obj,
            "plaintext": obj._plaintext,
            "changelist_url": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"),
        }
        return TemplateResponse(request, "admin/companies/key_created.html", context)


@admin.register(ApiKey)
class ApiKeyAdmin(KeyAdminBase):
    company_path = "company"
    # Its own company's keys: it could do through them whatever the API allows anyway. Changing one is revoking it.
    isp_admin_permissions = frozenset({"view", "add", "change"})
    add_fields = ["company", "name"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "company"]
    search_fields = ["name", "prefix", "company__name"]
    list_select_related = ["company"]
    autocomplete_fields = ["company"]

    @admin.display(description="company", ordering="company__name")
    def owner(self, obj: ApiKey) -> str:
        return str(obj.company)

    def save_model(self, request, obj: ApiKey, form, change: bool) -> None:
        if change:
            return
        created, plaintext = services.create_api_key(company=obj.company, name=obj.name)
        obj.pk, obj.prefix, obj.created_at, obj._plaintext = created.pk, created.prefix, created.created_at, plaintext


@admin.register(PlatformToken)
class PlatformTokenAdmin(KeyAdminBase):
    company_path = PLATFORM_ONLY
    add_fields = ["user", "name"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]

    @admin.display(description="user", ordering="user__username")
    def owner(self, obj: PlatformToken) -> str:
        return str(obj.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            from django.contrib.auth import get_user_model

            kwargs["queryset"] = get_user_model().objects.filter(is_staff=True, is_active=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj: PlatformToken, form, change: bool) -> None:
        if change:
            return
        created, plaintext = services.create_platform_token(user=obj.user, name=obj.name)
        obj.pk, obj.prefix, obj.created_at, obj._plaintext = created.pk, created.prefix, created.created_at, plaintext
