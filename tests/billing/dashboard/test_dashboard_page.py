"""The live dashboard's page: an agent logs in and sees its own company's spend; nobody sees another's."""

import json
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from billing.models import SpendEntry
from billing.recipients import mask_phone
from billing.services import budgets
from companies.models import Member
from tests.billing.dashboard.conftest import (
    PASSWORD,
    SERVICE_PRICE,
    logged_in,
    member,
    post_delivered,
    sent_template,
)

pytestmark = pytest.mark.django_db
URL = "/dashboard/spend/"


def figures_of(response) -> dict:
    """The figures the page draws, as embedded for its script."""
    html = response.content.decode()
    start = html.index('<script id="spend-figures" type="application/json">') + len(
        '<script id="spend-figures" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


@pytest.fixture
def charged(cloud_a, cloud_b, django_capture_on_commit_callbacks):
    """One charged delivery for each company, through Meta's webhook."""
    messages = sent_template(cloud_a, template="fatura_alpha"), sent_template(cloud_b, template="fatura_beta")
    with django_capture_on_commit_callbacks(execute=True):
        for message in messages:
            post_delivered(message)
    assert SpendEntry.objects.filter(stage=SpendEntry.Stage.DELIVERED).count() == 2
    return messages


def test_a_brazilian_number_keeps_its_area_code_first_digit_and_last_four():
    assert mask_phone("5544999990001") == "+55 44 9****-0001"
    assert mask_phone("554433330001") == "+55 44 3***-0001"


def test_another_country_s_number_keeps_its_calling_code_and_last_four():
    assert mask_phone("16505551234") == "+1 ******1234"
    assert mask_phone("") == ""


def test_anonymous_is_sent_to_the_login_page():
    response = Client().get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={URL}"


def test_an_agent_logs_in_on_the_login_page_and_lands_on_its_dashboard(agent_a):
    client = Client()
    page = client.get("/accounts/login/", {"next": URL})
    assert page.status_code == 200
    response = client.post("/accounts/login/", {"username": "bruno", "password": PASSWORD, "next": URL})
    assert response.status_code == 302
    assert response["Location"] == URL
    dashboard = client.get(URL)
    assert dashboard.status_code == 200
    assert "qqalpha Internet" in dashboard.content.decode()


def test_the_login_page_without_next_lands_on_the_dashboard(agent_a):
    response = Client().post("/accounts/login/", {"username": "bruno", "password": PASSWORD})
    assert response["Location"] == URL


def test_a_wrong_password_shows_the_form_again(agent_a):
    response = Client().post("/accounts/login/", {"username": "bruno", "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_the_dashboard_s_login_is_throttled_like_the_admin_s(agent_a, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/accounts/login/", {"username": "bruno", "password": "wrong"}).status_code == 200
    assert client.post("/accounts/login/", {"username": "bruno", "password": "wrong"}).status_code == 429
    assert client.post("/accounts/login/", {"username": "bruno", "password": PASSWORD}).status_code == 429
    assert client.get(URL).status_code == 302  # still not logged in


def test_logging_out_leads_back_to_the_login_page(agent_a):
    client = logged_in(agent_a.user)
    response = client.post("/accounts/logout/")
    assert response["Location"] == "/accounts/login/"
    assert client.get(URL).status_code == 302


def test_an_agent_has_no_way_into_the_admin(agent_a):
    response = logged_in(agent_a.user).get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_an_agent_sees_its_company_s_spend_and_not_the_other_s(agent_a, charged):
    response = logged_in(agent_a.user).get(URL)
    assert response.status_code == 200
    figures = figures_of(response)
    assert figures["company_id"] == agent_a.company_id
    assert [(f["key"], f["count"], f["spent"]) for f in figures["today_by_category"]] == [
        ("service", 1, f"{SERVICE_PRICE:.6f}")
    ]
    assert [(f["currency"], f["spent"]) for f in figures["month_total"]] == [("USD", f"{SERVICE_PRICE:.6f}")]
    [last] = figures["last_billable"]
    assert (last["template"], last["category"], last["recipient"]) == ("fatura_alpha", "service", "+55 44 9****-0001")
    html = response.content.decode()
    assert "fatura_beta" not in html
    assert "5544999990001" not in html  # the recipient's number only masked


def test_the_page_draws_the_budget_gauge_of_its_company_only(agent_a, cloud_b, charged):
    budgets.set_budget(company=agent_a.company, amount=Decimal("1.00"), alert_threshold_percent=80)
    budgets.set_budget(company=cloud_b.company, amount=Decimal("9.00"))
    response = logged_in(agent_a.user).get(URL)
    gauge = figures_of(response)["budget"]
    assert (gauge["amount"], gauge["spent"], gauge["currency"]) == ("1.000000", f"{SERVICE_PRICE:.6f}", "USD")
    assert (gauge["percent"], gauge["threshold_percent"], gauge["over_threshold"]) == ("0.7", 80, False)
    assert "data-budget-fill" in response.content.decode()


def test_without_a_budget_the_page_has_no_gauge_to_draw(agent_a, charged):
    assert figures_of(logged_in(agent_a.user).get(URL))["budget"] is None


def test_an_isp_admin_watches_its_company_too(cloud_a, charged):
    isp_admin = member(cloud_a, "ana", Member.Role.ISP_ADMIN)
    response = logged_in(isp_admin.user).get(URL)
    assert figures_of(response)["company_id"] == cloud_a.company_id


def test_the_page_names_its_company_s_socket(agent_a):
    html = logged_in(agent_a.user).get(URL).content.decode()
    assert f'data-socket="/ws/dashboard/spend/?company={agent_a.company.contract}"' in html
    assert 'data-timezone="America/Sao_Paulo"' in html


def test_an_agent_naming_another_company_is_refused(agent_a, cloud_b):
    response = logged_in(agent_a.user).get(URL, {"company": str(cloud_b.company.contract)})
    assert response.status_code == 403
    assert "its own company" in response.content.decode()
    assert "qqbeta" not in response.content.decode()


def test_an_agent_naming_its_own_company_is_let_in(agent_a):
    response = logged_in(agent_a.user).get(URL, {"company": str(agent_a.company.contract)})
    assert response.status_code == 200


def test_a_refusal_asked_for_as_json_is_the_json_error(agent_a, cloud_b):
    response = logged_in(agent_a.user).get(
        URL, {"company": str(cloud_b.company.contract)}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "other_company"


def test_a_login_of_no_company_is_refused(db):
    user = get_user_model().objects.create_user("nobody", password=PASSWORD)
    response = logged_in(user).get(URL)
    assert response.status_code == 403
    assert "belongs to no company" in response.content.decode()


def test_staff_without_the_spend_permission_are_refused(db):
    user = get_user_model().objects.create_user("helpdesk", password=PASSWORD, is_staff=True)
    assert logged_in(user).get(URL).status_code == 403


def test_platform_staff_choose_a_company(platform_staff, cloud_a, cloud_b):
    response = logged_in(platform_staff).get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'href="?company={cloud_a.company.contract}"' in html
    assert f'href="?company={cloud_b.company.contract}"' in html


def test_platform_staff_watch_the_company_they_name(platform_staff, charged, cloud_b):
    response = logged_in(platform_staff).get(URL, {"company": str(cloud_b.company.contract)})
    figures = figures_of(response)
    assert figures["company_id"] == cloud_b.company_id
    assert [e["template"] for e in figures["last_billable"]] == ["fatura_beta"]


@pytest.mark.parametrize("contract", ["0b7f9d8e-1c2a-4e5f-9a8b-7c6d5e4f3a2b", "not-a-uuid"])
def test_platform_staff_naming_no_company_s_contract_get_404(platform_staff, contract):
    response = logged_in(platform_staff).get(URL, {"company": contract})
    assert response.status_code == 404
    assert "No company has that contract" in response.content.decode()


def test_the_page_reads_a_bounded_number_of_queries(agent_a, charged, django_assert_max_num_queries):
    client = logged_in(agent_a.user)
    with django_assert_max_num_queries(12):
        assert client.get(URL).status_code == 200
