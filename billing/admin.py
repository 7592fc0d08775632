"""What operators see of spend: the rate card and allowances (editable), the entries and totals (read only),
and Meta's own figures beside ours."""

from decimal import Decimal

from django.contrib import admin
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest

from billing import budget_admin  # noqa: F401  (registers the budgets' admin)
from billing.models import (
    BillingAccount,
    FreeAllowance,
    MetaFetch,
    MetaSpend,
    Rate,
    SpendEntry,
    SpendMonthTotal,
    SpendTemplateTotal,
    SpendTotal,
)
from billing.read_only_admin import ReadOnlyAdmin
from companies.admin_scoping import PLATFORM_ONLY, CompanyScopedAdmin
from config.admin_display import pill


@admin.register(Rate)
class RateAdmin(CompanyScopedAdmin):
    company_path = PLATFORM_ONLY  # Meta's prices, the same for every company
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
    company_path = PLATFORM_ONLY  # how Meta bills the company: the platform sets it up
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


# ------------------------------------------------------------------------------ Meta's figures beside ours


@admin.register(MetaFetch)
class MetaFetchAdmin(ReadOnlyAdmin):
    """Which days of which WABA came from Meta, and why the others did not."""

    list_display = ["day", "company", "waba_id", "state_pill", "has_cost", "attempts", "attempted_at", "error"]
    list_filter = ["state", "has_cost", "retryable"]
    list_select_related = ["company"]
    search_fields = ["waba_id", "error"]
    date_hierarchy = "day"

    @admin.display(description="state", ordering="state")
    def state_pill(self, obj: MetaFetch) -> str:
        if obj.state != MetaFetch.State.OK:
            return pill("pill-bad", "failed", title=obj.error)
        if obj.error:  # a later attempt failed: the figures are the last good fetch's
            return pill("pill-warn", "fetched; last retry failed", title=obj.error)
        return pill("pill-ok", "fetched")


def _ours(column: str) -> Subquery:
    """Our daily total's ``column`` for the same company, day, channel, category, market and currency."""
    same = SpendTotal.objects.filter(
        company_id=OuterRef("company_id"),
        day=OuterRef("day"),
        channel_id=OuterRef("channel_id"),
        category=OuterRef("category"),
        market=OuterRef("market"),
        currency=OuterRef("currency"),
    )
    return Subquery(same.values(column)[:1])


@admin.register(MetaSpend)
class MetaSpendAdmin(ReadOnlyAdmin):
    """Meta's figures, each beside our daily total of the same phone number, category and country."""

    list_display = [
        "day",
        "company",
        "phone_number",
        "category",
        "market",
        "volume",
        "charged_volume",
        "meta_amount",
        "ours_count",
        "ours_amount",
        "volume_difference",
        "amount_difference",
    ]
    list_filter = ["category", "market", "currency"]
    list_select_related = ["company"]
    search_fields = ["waba_id", "phone_number"]
    date_hierarchy = "day"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                ours_delivered=_ours("delivered_count"),
                ours_delivered_amount=_ours("delivered_amount"),
            )
        )

    @admin.display(description="Meta's amount")
    def meta_amount(self, obj: MetaSpend) -> str:
        if obj.cost is None:  # a partner's credit line: Meta gave volumes only
            return pill("pill-muted", f"{obj.rate_card_cost} {obj.currency}", title="Meta's volume at our rate card")
        return f"{obj.cost} {obj.currency}"

    @admin.display(description="ours", ordering="ours_delivered")
    def ours_count(self, obj: MetaSpend) -> int:
        return obj.ours_delivered or 0

    @admin.display(description="our amount")
    def ours_amount(self, obj: MetaSpend) -> str:
        return f"{obj.ours_delivered_amount or Decimal(0)} {obj.currency}"

    @admin.display(description="volume difference")
    def volume_difference(self, obj: MetaSpend) -> str:
        return _difference(obj.volume - (obj.ours_delivered or 0))

    @admin.display(description="amount difference")
    def amount_difference(self, obj: MetaSpend) -> str:
        return _difference(obj.amount - (obj.ours_delivered_amount or Decimal(0)))


def _difference(value: int | Decimal) -> str:
    """Meta's less ours: nothing to see when zero."""
    return "0" if not value else pill("pill-bad", f"{value:+}", title="Meta's less ours")
