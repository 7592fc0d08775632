"""The live spend dashboard's page: a company's figures as of now, which its WebSocket then keeps current."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from billing import dashboard_access, push
from billing.exceptions import DashboardRefused
from billing.models import Category
from billing.routing import SOCKET_PATH
from companies.selectors import list_companies
from config.errors import error_response, wants_json


@never_cache
@login_required
@require_GET
def spend_dashboard(request: HttpRequest) -> HttpResponse:
    """``/dashboard/spend/[?company=<contract>]``: the page of the user's company (platform staff choose one)."""
    try:
        company = dashboard_access.company_to_watch(request.user, request.GET.get("company"))
    except DashboardRefused as refused:
        if wants_json(request):
            return error_response(refused.status, refused.code, refused.message)
        return render(request, "billing/dashboard_refused.html", {"refusal": refused}, status=refused.status)
    if company is None:
        companies = list_companies(company=None).only("name", "contract")
        return render(request, "billing/dashboard_choose.html", {"companies": companies})
    return render(
        request,
        "billing/dashboard.html",
        {
            "company": company,
            "figures": push.figures(company.pk),
            "labels": dict(Category.choices),
            "socket_path": f"{SOCKET_PATH}?company={company.contract}",
        },
    )
