"""The spend panel in the admin: its figures from known entries (made by Meta's receipts through billing's
services), and who sees which company's (platform staff all, an ISP admin its own, whatever the URL says)."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from billing.models import SpendEntry
from billing.services import budgets, entries
from companies import members
from companies.models import Member
from conversations.models import Message
from tests.billing.conftest import cloud_message, receive, status_payload, utc
from tests.factories import CloudChannelFactory, CompanyFactory

pytestmark = pytest.mark.django_db

PANEL = "/admin/billing/spend/"
NOW = utc(2026, 11, 20, 15, 0)  # 12:00 in São Paulo: the 20th of 30 days
Author, Purpose, Status = Message.Author, Message.Purpose, Message.Status


def delivered(channel, *, on: dt.datetime, template: str = "", category: str = "marketing", **message_fields):
    """A message Meta delivered and priced (the sent receipt's pricing, ``category`` for its category)."""
    message = cloud_message(channel, template=template, at=on, **message_fields)
    receive(status_payload("status_sent.json", message, status="delivered", at=on, category=category), message)
    return message


def spend_november(channel, *, template_prefix: str = "") -> None:
    """A month of known spend for ``channel``'s company, up to the 20th of November 2026, and two charges in
    October (the 5th and the 25th):

    - charged: two ``promo`` marketing notices (0.0625 each), a ``fatura`` utility notice (0.0068), an agent's
      reply (service, 0.0068), a bot reply free inside the window (0); 0.1386 in all, 5 delivered, 1 free;
    - not yet delivered: a ``promo`` priced by Meta's sent receipt (0.0625) and one only queued (0.0625).
    """
    promo, fatura = f"{template_prefix}promo", f"{template_prefix}fatura"
    delivered(channel, on=utc(2026, 10, 5, 14), template=promo)
    delivered(channel, on=utc(2026, 10, 25, 14), template=promo)
    delivered(channel, on=utc(2026, 11, 2, 14), template=promo)
    delivered(channel, on=utc(2026, 11, 18, 14), template=promo)
    delivered(channel, on=utc(2026, 11, 18, 15), template=fatura, category="utility")
    delivered(channel, on=utc(2026, 11, 19, 14), category="service", author=Author.AGENT, purpose=Purpose.REPLY)
    bot = cloud_message(channel, author=Author.BOT, purpose=Purpose.REPLY, at=utc(2026, 11, 19, 15))
    free = {"billable": False, "type": "free_customer_service", "category": "service"}
    receive(status_payload("status_sent.json", bot, status="delivered", at=utc(2026, 11, 19, 15), **free), bot)
    pending = cloud_message(channel, template=promo, status=Status.SENDING, at=utc(2026, 11, 20, 13))
    receive(status_payload("status_sent.json", pending, at=utc(2026, 11, 20, 13)), pending)
    queued = cloud_message(channel, template=promo, status=Status.QUEUED, at=utc(2026, 11, 20, 14))
    entries.settle(queued=[entries.Queued(message_id=queued.pk, at=utc(2026, 11, 20, 14), category="marketing")])


def isp_admin_client(company, username: str) -> Client:
    member = members.create_member_user(
        company=company, role=Member.Role.ISP_ADMIN, username=username, password="x-unused-password-1"
    )
    client = Client()
    client.force_login(member.user)
    return client


@pytest.fixture
def now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def channel_a(now):
    return CloudChannelFactory(company=CompanyFactory(name="qqalpha Internet"), name="Atendimento A")


@pytest.fixture
def channel_b(now):
    return CloudChannelFactory(company=CompanyFactory(name="qqbeta Telecom"), name="qqbeta Canal")


@pytest.fixture
def spent(channel_a, channel_b):
    """Company A's known month; company B spent one marketing template of its own in November, and has a budget."""
    spend_november(channel_a)
    delivered(channel_b, on=utc(2026, 11, 10, 14), template="qqbeta_cobranca")
    budgets.set_budget(company=channel_b.company, amount=Decimal("777.00"), contact_email="qqbeta@example.com")


def by_key(lines) -> dict:
    return {line.label: (line.figure.spent, line.figure.count) for line in lines}


def test_the_panel_shows_an_isp_admin_its_month_by_category_channel_origin_and_template(spent, channel_a):
    response = isp_admin_client(channel_a.company, "ana").get(PANEL)
    assert response.status_code == 200
    context = response.context
    (total,) = context["total"]
    figure = total.figure
    assert (figure.currency, figure.spent, figure.count, figure.free_count) == ("USD", Decimal("0.1386"), 5, 1)
    assert (figure.pending, figure.pending_count, figure.estimated, figure.estimated_count) == (
        Decimal("0.0625"),
        1,
        Decimal("0.0625"),
        1,
    )
    assert total.expected == Decimal("0.1250")
    assert by_key(context["by_category"]) == {
        "Marketing": (Decimal("0.1250"), 2),
        "Utility": (Decimal("0.0068"), 1),
        "Service": (Decimal("0.0068"), 2),
    }
    assert by_key(context["by_channel"]) == {"Atendimento A (+55 44 3030-0000)": (Decimal("0.1386"), 5)}
    assert by_key(context["by_origin"]) == {
        "Notice": (Decimal("0.1318"), 3),
        "Agent reply": (Decimal("0.0068"), 1),
        "Bot reply": (Decimal(0), 1),
    }
    assert by_key(context["top_templates"]) == {"promo": (Decimal("0.1250"), 2), "fatura": (Decimal("0.0068"), 1)}


def test_the_forecast_is_linear_on_the_days_elapsed_and_says_so(spent, channel_a):
    response = isp_admin_client(channel_a.company, "ana").get(PANEL)
    (forecast,) = response.context["forecast"]
    # Charged 0.1386 + awaiting delivery 0.0625 + queued 0.0625, over 20 days of 30.
    assert (forecast.so_far, forecast.days_elapsed, forecast.days_in_month) == (Decimal("0.2636"), 20, 30)
    assert forecast.month_end == Decimal("0.395400")
    html = response.content.decode()
    assert "USD 0.40" in html
    assert "divided by the days elapsed, today counted whole, times the days of the month" in html


def test_the_comparison_is_with_last_month_up_to_the_same_day(spent, channel_a):
    response = isp_admin_client(channel_a.company, "ana").get(PANEL)
    (comparison,) = response.context["comparison"]
    assert (comparison.this_month, comparison.last_month_same_days, comparison.last_month) == (
        Decimal("0.1386"),
        Decimal("0.0625"),
        Decimal("0.1250"),
    )
    assert "+121.8%" in response.content.decode()


def test_the_daily_chart_has_every_day_of_the_month_with_actual_and_estimated_apart(spent, channel_a):
    chart = isp_admin_client(channel_a.company, "ana").get(PANEL).context["chart"]
    assert len(chart["labels"]) == 30
    assert chart["labels"][0] == "2026-11-01"
    (series,) = chart["series"]
    assert series["currency"] == "USD"
    assert Decimal(series["charged"][17]) == Decimal("0.0693")  # the 18th: a promo and a fatura
    assert Decimal(series["charged"][1]) == Decimal("0.0625")
    assert Decimal(series["expected"][19]) == Decimal("0.1250")  # the 20th: one priced, one queued
    assert sum(Decimal(v) for v in series["charged"]) == Decimal("0.1386")


def test_actual_and_estimated_figures_are_labelled_and_the_currency_shown(spent, channel_a):
    html = isp_admin_client(channel_a.company, "ana").get(PANEL).content.decode()
    assert html.count('class="sp-tag sp-actual">actual</span>') >= 2
    assert html.count('class="sp-tag sp-estimate">estimated</span>') >= 2
    assert "USD 0.14" in html  # charged this month
    assert "vendor/chartjs/chart.umd.min.js" in html
    assert 'id="sp-daily-data"' in html


def test_an_earlier_month_is_shown_whole_without_a_forecast(spent, channel_a):
    response = isp_admin_client(channel_a.company, "ana").get(PANEL, {"month": "2026-10"})
    assert response.status_code == 200
    (total,) = response.context["total"]
    assert (total.figure.spent, total.figure.count) == (Decimal("0.1250"), 2)
    assert response.context["forecast"] == []
    assert len(response.context["chart"]["labels"]) == 31


@pytest.mark.parametrize("month", ["2026-13", "november", "2026-1", "2026-12"])
def test_a_bad_or_future_month_is_a_400(spent, channel_a, month):
    assert isp_admin_client(channel_a.company, "ana").get(PANEL, {"month": month}).status_code == 400


def test_an_isp_admin_never_sees_another_company_figures_or_budget(spent, channel_a, channel_b):
    response = isp_admin_client(channel_a.company, "ana").get(PANEL)
    html = response.content.decode()
    assert "qqbeta" not in html  # B's name, channel, template, budget contact
    assert "777" not in html  # B's budget
    assert response.context["companies"] == []  # no company to choose
    assert response.context["budget"] is None  # A has none; B's is not shown


def test_an_isp_admin_asking_for_another_company_by_url_gets_a_404(spent, channel_a, channel_b):
    client = isp_admin_client(channel_a.company, "ana")
    assert client.get(PANEL, {"company": str(channel_b.company.contract)}).status_code == 404
    assert client.get(PANEL, {"company": "not-a-uuid"}).status_code == 404
    own = client.get(PANEL, {"company": str(channel_a.company.contract).upper()})
    assert own.status_code == 200
    assert own.context["company"] == channel_a.company


def test_an_isp_admin_of_the_other_company_sees_only_its_own(spent, channel_a, channel_b):
    response = isp_admin_client(channel_b.company, "bia").get(PANEL)
    (total,) = response.context["total"]
    assert (total.figure.spent, total.figure.count) == (Decimal("0.0625"), 1)
    html = response.content.decode()
    assert "qqalpha" not in html
    assert "fatura" not in html
    assert response.context["budget"].amount == Decimal("777.00")


def test_platform_staff_see_all_companies_together_and_may_choose_one(spent, channel_a, channel_b, admin_client):
    response = admin_client.get(PANEL)
    assert response.status_code == 200
    (total,) = response.context["total"]
    assert total.figure.spent == Decimal("0.1386") + Decimal("0.0625")
    names = [name for _, name in response.context["companies"]]
    assert names == ["qqalpha Internet", "qqbeta Telecom"]

    chosen = admin_client.get(PANEL, {"company": str(channel_b.company.contract)})
    (total,) = chosen.context["total"]
    assert total.figure.spent == Decimal("0.0625")
    assert "qqalpha" not in chosen.content.decode().split('name="company"')[1].split("</select>")[1]


def test_platform_staff_asking_for_a_malformed_or_unknown_company_get_a_4xx(spent, admin_client):
    assert admin_client.get(PANEL, {"company": "nope"}).status_code == 400
    assert admin_client.get(PANEL, {"company": "6f1c7c1e-0000-4000-8000-000000000000"}).status_code == 404


def test_staff_without_the_spend_permission_are_refused_and_with_it_let_in(spent):
    operator = get_user_model().objects.create_user("operador", password="x-unused-password-1", is_staff=True)
    client = Client()
    client.force_login(operator)
    assert client.get(PANEL).status_code == 403
    operator.user_permissions.add(Permission.objects.get(codename="view_spendmonthtotal"))
    client.force_login(get_user_model().objects.get(pk=operator.pk))  # permissions are cached on the user
    assert client.get(PANEL).status_code == 200


def test_an_agent_and_an_anonymous_visitor_do_not_reach_the_panel(spent, channel_a):
    agent = members.create_member_user(
        company=channel_a.company, role=Member.Role.AGENT, username="bruno", password="x-unused-password-1"
    )
    client = Client()
    client.force_login(agent.user)
    assert client.get(PANEL).status_code == 302  # to the admin's login: agents have no admin
    assert Client().get(PANEL).status_code == 302


def test_the_panel_is_listed_first_in_the_billing_app_and_on_the_index(spent, channel_a):
    client = isp_admin_client(channel_a.company, "ana")
    for page in (reverse("admin:index"), reverse("admin:app_list", args=["billing"])):
        response = client.get(page)
        (billing,) = [app for app in response.context["app_list"] if app["app_label"] == "billing"]
        assert billing["models"][0]["admin_url"] == PANEL
        assert f'href="{PANEL}"' in response.content.decode()


def test_the_panel_reads_totals_only(spent, channel_a, django_assert_max_num_queries):
    client = isp_admin_client(channel_a.company, "ana")
    with django_assert_max_num_queries(30) as captured:
        assert client.get(PANEL).status_code == 200
    scanned = [q["sql"] for q in captured.captured_queries if SpendEntry._meta.db_table in q["sql"]]
    assert scanned == []
