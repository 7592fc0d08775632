"""Budgets in the admin: an ISP admin sets its company's (platform staff any company's); the alerts they raised are
read only. Writes go through ``billing.services.budgets``."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from billing.models import BillingAccount, Budget, BudgetAlert, Currency
from billing.read_only_admin import ReadOnlyAdmin
from billing.services import budgets
from companies.admin_scoping import CompanyScopedAdmin
from companies.members import member_of


@admin.register(Budget)
class BudgetAdmin(CompanyScopedAdmin):
    company_path = "company"
    isp_admin_permissions = frozenset({"view", "add", "change", "delete"})
    list_display = ["company", "period", "amount", "currency", "alert_threshold_percent", "contact_email"]
    list_filter = ["currency", "company"]
    list_select_related = ["company"]
    search_fields = ["company__name", "contact_email"]
    autocomplete_fields = ["company"]
    fields = ["company", "period", "amount", "currency", "alert_threshold_percent", "contact_email"]

    def get_readonly_fields(self, request: HttpRequest, obj: Budget | None = None) -> list[str]:
        # A budget stays with its company and period; another company's is a new budget.
        return ["company", "period"] if obj is not None else []

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        member = member_of(request.user)
        if member is not None:
            billed = BillingAccount.objects.filter(company_id=member.company_id).values_list("currency", flat=True)
            initial["currency"] = billed.first() or Currency.USD
        return initial

    def save_model(self, request: HttpRequest, obj: Budget, form: Any, change: bool) -> None:
        saved = budgets.set_budget(
            company=obj.company,
            period=obj.period,
            amount=obj.amount,
            currency=obj.currency,
            alert_threshold_percent=obj.alert_threshold_percent,
            contact_email=obj.contact_email,
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: Budget) -> None:
        budgets.remove_budget(budget=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Budget]) -> None:
        for budget in queryset:
            budgets.remove_budget(budget=budget)


@admin.register(BudgetAlert)
class BudgetAlertAdmin(ReadOnlyAdmin):
    """Raised by the budget check when spend crosses the threshold: a record, never edited."""

    list_display = ["company", "period_start", "threshold_percent", "spent", "amount", "currency", "crossed_at"]
    list_display += ["emailed_at", "emailed_to", "email_error"]
    list_filter = ["period_start", "company"]
    list_select_related = ["company"]
    date_hierarchy = "period_start"
