"""The admin is the product's panel: branded, with an overview of tenants and channels on its index.

Platform staff see every company; an ISP admin (a member, ``companies.members``) only its own, on every
model (``companies.admin_scoping``); agents do not get in.
"""

from django.contrib import admin
from django.db.models import Count, Q
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import URLPattern, URLResolver, path

from billing import panel
from companies.admin_scoping import CompanyScopedAdmin, check_company_path, for_request, platform_only
from companies.members import member_of
from companies.models import ApiKey, Channel, Company


class PonteAdminSite(admin.AdminSite):
    site_header = "Ponte"
    site_title = "Ponte admin"
    index_title = "Overview"

    def register(self, model_or_iterable, admin_class=None, **options) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, CompanyScopedAdmin):
            # Third parties' admins (auth, django-celery-beat, axes) are the platform's. A project admin
            # without the scoping is hidden from members too, and the admin registry test
            # (tests/companies/admin_scoping) fails for it until it declares its company_path.
            admin_class = platform_only(admin_class)
        models = [model_or_iterable] if isinstance(model_or_iterable, type) else model_or_iterable
        for model in models:
            check_company_path(model, admin_class.company_path)
        super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request: HttpRequest) -> bool:
        member = member_of(request.user)
        return super().has_permission(request) and (member is None or member.is_isp_admin)

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        channels = for_request(request, Channel.objects.filter(is_active=True), "company")
        channel_counts = channels.aggregate(
            total=Count("pk"),
            open=Count("pk", filter=Q(connection_state=Channel.ConnectionState.OPEN)),
            down=Count("pk", filter=Q(connection_state=Channel.ConnectionState.CLOSE)),
        )
        companies = for_request(request, Company.objects.all(), "pk")
        overview = {
            "companies_active": companies.filter(status=Company.Status.ACTIVE).count(),
            "companies_inactive": companies.filter(status=Company.Status.INACTIVE).count(),
            "channels": channel_counts,
            "api_keys_active": for_request(request, ApiKey.objects.filter(revoked_at__isnull=True), "company").count(),
            "is_member": member_of(request.user) is not None,
        }
        return super().index(request, {"overview": overview, **(extra_context or {})})

    def get_urls(self) -> list[URLPattern | URLResolver]:
        # The spend panel is a page of the admin that is no model's; before the admin's own, whose last is a catch-all.
        spend = path("billing/spend/", self.admin_view(self.spend_panel), name="billing_spend_panel")
        return [spend, *super().get_urls()]

    def spend_panel(self, request: HttpRequest) -> TemplateResponse:
        return panel.spend_panel(request, site=self)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        # The panel is listed first in the billing app, on the index and in the sidebar.
        return panel.with_panel_entry(request, super().get_app_list(request, app_label))
