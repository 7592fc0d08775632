"""The admin is the product's panel: branded, with an overview of tenants and channels on its index."""

from django.contrib import admin
from django.db.models import Count, Q
from django.http import HttpRequest
from django.template.response import TemplateResponse

from companies.models import ApiKey, Channel, Company


class PonteAdminSite(admin.AdminSite):
    site_header = "Ponte"
    site_title = "Ponte admin"
    index_title = "Overview"

    def index(self, request: HttpRequest, extra_context: dict | None = None) -> TemplateResponse:
        channel_counts = Channel.objects.filter(is_active=True).aggregate(
            total=Count("pk"),
            open=Count("pk", filter=Q(connection_state=Channel.ConnectionState.OPEN)),
            down=Count("pk", filter=Q(connection_state=Channel.ConnectionState.CLOSE)),
        )
        overview = {
            "companies_active": Company.objects.filter(status=Company.Status.ACTIVE).count(),
            "companies_inactive": Company.objects.filter(status=Company.Status.INACTIVE).count(),
            "channels": channel_counts,
            "api_keys_active": ApiKey.objects.filter(revoked_at__isnull=True).count(),
        }
        return super().index(request, {"overview": overview, **(extra_context or {})})
