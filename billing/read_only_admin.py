"""The admin of billing's records: rows only billing's services write (entries, their totals, budget alerts)."""

from django.http import HttpRequest

from companies.admin_scoping import READ_ONLY
from conversations.admin import BigTableAdmin


class ReadOnlyAdmin(BigTableAdmin):
    """Written only by the billing services, with their totals: an edit here would make them drift."""

    company_path = "company"
    isp_admin_permissions = READ_ONLY  # an ISP admin reads its spend

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
