"""The spend panel: a page of the admin (``/admin/billing/spend/``) showing what Meta charges, read from the totals.

Who sees what: platform staff (a superuser, or staff allowed to view spend totals) choose a company by its
contract (``?company=<uuid>``) or see all companies together; an ISP admin sees its own company only, and a
``company`` naming any other is answered 404, so tampering with the URL tells nothing. ``?month=YYYY-MM`` shows
an earlier month. Every figure comes from ``billing.selectors`` (the totals tables, never the entries).
"""

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.admin import AdminSite
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse

from billing import reconciliation, selectors
from billing.models import Budget, Category, Origin
from billing.selectors import Figure
from companies.members import member_of
from companies.models import Company

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
STAFF_PERMISSION = "billing.view_spendmonthtotal"
TOP_TEMPLATES = 10


@dataclass(frozen=True)
class Line:
    """One row of a breakdown table: a label and its figure."""

    label: str
    figure: Figure

    @property
    def expected(self) -> Decimal:
        """Priced by Meta and awaiting delivery, plus queued and not yet reported: what may still be charged."""
        return self.figure.pending + self.figure.estimated

    @property
    def expected_count(self) -> int:
        return self.figure.pending_count + self.figure.estimated_count


def _company(request: HttpRequest) -> Company | None:
    """The company the panel shows (None: all, for platform staff); 404 for a member asking for another's."""
    member = member_of(request.user)
    asked = request.GET.get("company", "").strip().lower()
    if not may_view(request):
        raise PermissionDenied
    if member is not None:
        if asked and asked != str(member.company.contract):
            raise Http404("No such company.")
        return member.company
    if not asked:
        return None
    try:
        contract = uuid.UUID(asked)
    except ValueError:
        raise BadRequest("company: a company's contract (a UUID).") from None
    company = Company.objects.filter(contract=contract).first()
    if company is None:
        raise Http404("No such company.")
    return company


def _month(request: HttpRequest, current: dt.date) -> dt.date:
    asked = request.GET.get("month", "").strip()
    if not asked:
        return current
    found = MONTH.match(asked)
    if not found or not 1 <= int(found[2]) <= 12:
        raise BadRequest("month: a month as YYYY-MM.")
    month = dt.date(int(found[1]), int(found[2]), 1)
    if month > current:
        raise BadRequest("month: the month has not begun.")
    return month


def _label(choices: type, key: str) -> str:
    try:
        return choices(key).label
    except ValueError:
        return key or "—"


def _chart(daily: list[Figure]) -> dict[str, Any]:
    """The daily chart's data: per currency, what was charged and what is still expected, per day."""
    days = sorted({f.key for f in daily})
    series = []
    for currency in sorted({f.currency for f in daily}):
        by_day = {f.key: f for f in daily if f.currency == currency}
        series.append(
            {
                "currency": currency,
                "charged": [str(by_day[d].spent) if d in by_day else "0" for d in days],
                "expected": [str(by_day[d].pending + by_day[d].estimated) if d in by_day else "0" for d in days],
            }
        )
    return {"labels": [d.isoformat() for d in days], "series": series}


# The panel lists this many of the month's latest days on which Meta's figures and ours differ.
RECONCILIATION_ROWS = 31


def figures(*, company: Company | None, month: dt.date, today: dt.date) -> dict[str, Any]:
    """Everything the panel shows of ``company`` (None: all) for ``month``, ``today`` being the company's date."""
    company_id = company.pk if company is not None else None
    is_current = month == today.replace(day=1)
    as_of = today if is_current else selectors.month_bounds(month)[1]
    month_to_date = selectors.get_month_to_date(company_id=company_id, month=month)
    channels = selectors.list_channel_labels(
        company_id=company_id, channel_ids=[f.key for f in month_to_date.by_channel]
    )
    daily = selectors.list_daily(company_id=company_id, month=month)
    return {
        "month": month,
        "is_current_month": is_current,
        "as_of": as_of,
        "total": [Line(f.currency, f) for f in month_to_date.total],
        "by_category": [Line(_label(Category, f.key), f) for f in month_to_date.by_category],
        "by_channel": [Line(channels.get(f.key, f"channel #{f.key} (removed)"), f) for f in month_to_date.by_channel],
        "by_origin": [
            Line(_label(Origin, f.key), f) for f in selectors.list_by_origin(company_id=company_id, month=month)
        ],
        "top_templates": [
            Line(f.key, f)
            for f in selectors.list_top_templates(company_id=company_id, month=month, limit=TOP_TEMPLATES)
        ],
        "chart": _chart(daily),
        "forecast": selectors.get_forecast(company_id=company_id, today=as_of) if is_current else [],
        "comparison": selectors.get_comparison(company_id=company_id, today=as_of),
        "budget": selectors.get_budget_status(company_id=company_id, month=month) if company_id else None,
        "alerts": selectors.list_budget_alerts(company_id=company_id, month=month),
        # Meta's daily figures (its pricing analytics) against ours, the days that differ or did not come.
        "meta_differences": [
            d
            # Meta's figures for a day are asked for once it is over: up to yesterday in the current month.
            for d in reconciliation.list_differences(company_id, month, as_of - dt.timedelta(days=int(is_current)))
            if not d.matches and (company_id is not None or d.meta_state != reconciliation.MetaState.MISSING)
        ][-RECONCILIATION_ROWS:],
    }


def spend_panel(request: HttpRequest, *, site: AdminSite) -> TemplateResponse:
    """The panel's page (the admin site's ``admin_view`` has checked the login and the admin's permission)."""
    company = _company(request)
    today = selectors.today_for(company.pk if company is not None else None)
    month = _month(request, today.replace(day=1))
    member = member_of(request.user)
    context = {
        **site.each_context(request),
        "title": "Spend",
        "subtitle": company.name if company is not None else "All companies",
        "company": company,
        "is_member": member is not None,
        "companies": selectors.list_panel_companies() if member is None else [],
        "previous_month": selectors.previous_month(month),
        "can_set_budget": company is not None and _may_set_budget(request, site),
        **figures(company=company, month=month, today=today),
    }
    return TemplateResponse(request, "admin/billing/spend_panel.html", context)


def _may_set_budget(request: HttpRequest, site: AdminSite) -> bool:
    budget_admin = site._registry.get(Budget)
    return budget_admin is not None and budget_admin.has_add_permission(request)


def may_view(request: HttpRequest) -> bool:
    """An ISP admin reads its company's spend; platform staff need the permission to view spend totals."""
    if member_of(request.user) is not None:
        return True
    return request.user.is_superuser or request.user.has_perm(STAFF_PERMISSION)


def panel_entry(request: HttpRequest) -> dict[str, Any]:
    """The panel as a line of the billing app in the admin's index and sidebar; it names a crossed budget."""
    name = "Spend panel"
    member = member_of(request.user)
    if member is not None:
        alert = selectors.get_open_alert(company_id=member.company_id)
        if alert is not None:
            name = f"Spend panel: {alert.percent_spent}% of this month's budget charged"
    return {
        "name": name,
        "object_name": "SpendPanel",
        "admin_url": reverse("admin:billing_spend_panel"),
        "add_url": None,
        "view_only": True,
        "perms": {"view": True},
    }


def with_panel_entry(request: HttpRequest, app_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``app_list`` with the panel first in the billing app (shown to whoever sees the billing app)."""
    if not may_view(request):
        return app_list
    for app in app_list:
        if app.get("app_label") == "billing":
            app["models"] = [panel_entry(request), *app["models"]]
    return app_list
