"""What operators see of spend: the rate card and allowances (editable), the entries and totals (read only)."""

from django.contrib import admin

from billing import budget_admin  # noqa: F401  (registers the budgets' admin)
from billing.models import (
    BillingAccount,
    FreeAllowance,
    Rate,
    SpendEntry,
    SpendMonthTotal,
    SpendTemplateTotal,
    SpendTotal,
)
from billing.read_only_admin import ReadOnlyAdmin
from companies.admin_scoping import PLATFORM_ONLY, CompanyScopedAdmin


@admin.register(Rate)
class RateAdmin(CompanyScopedAdmin):
    company_path = PLATFORM_ONLY  # Meta's card, the same for every company
    list_display = ["market", "category", "currency", "price", "tier", "valid_from", "valid_to", "source"]
    list_filter = ["market", "category", "currency"]
    search_fields = ["market", "source"]
    date_hierarchy = "valid_from"


@admin.register(FreeAllowance)
class FreeAllowanceAdmin(CompanyScopedAdmin):
    company_path = PLATFORM_ONLY
    list_display = ["kind", "category", "market", "monthly_count", "valid_from", "valid_to", "is_active"]
    list_filter = ["kind", "category", "is_active"]


@admin.register(BillingAccount)
class BillingAccountAdmin(CompanyScopedAdmin):
    # The platform's to set; and companies.admin_scoping's check takes foreign keys, not this one-to-one.
    company_path = PLATFORM_ONLY
    list_display = ["company", "currency"]
    list_filter = ["currency"]
    autocomplete_fields = ["company"]
    list_select_related = ["company"]


@admin.register(SpendEntry)
class SpendEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "occurred_at",
        "company",
        "category",
        "stage",
        "amount",
        "currency",
        "free_reason",
        "origin",
        "template_name",
        "market",
    ]
    list_filter = ["stage", "category", "origin", "free_reason", "pricing_model", "currency"]
    list_select_related = ["company"]
    search_fields = ["wamid", "template_name"]
    raw_id_fields = ["message"]


@admin.register(SpendTotal)
class SpendTotalAdmin(ReadOnlyAdmin):
    list_display = ["day", "company", "channel_id", "category", "market", "delivered_count", "delivered_amount"]
    list_filter = ["category", "currency"]
    list_select_related = ["company"]
    date_hierarchy = "day"


@admin.register(SpendMonthTotal)
class SpendMonthTotalAdmin(ReadOnlyAdmin):
    list_display = ["month", "company", "channel_id", "category", "origin", "delivered_count", "delivered_amount"]
    list_filter = ["category", "origin", "currency"]
    list_select_related = ["company"]


@admin.register(SpendTemplateTotal)
class SpendTemplateTotalAdmin(ReadOnlyAdmin):
    list_display = ["month", "company", "template_name", "category", "delivered_count", "delivered_amount"]
    list_filter = ["category", "currency"]
    list_select_related = ["company"]
    search_fields = ["template_name"]
