"""The admin pages render, never show a stored secret, and show a new key exactly once."""

import pytest
from django.urls import reverse

from companies.models import ApiKey, Channel, Company, PlatformToken
from tests.factories import CloudChannelFactory, CompanyFactory, EvolutionChannelFactory


@pytest.fixture
def company_with_secrets(db):
    company = CompanyFactory(erp_token="ERP-SECRET-VALUE", chatwoot_api_token="CW-SECRET-VALUE")
    CloudChannelFactory(company=company, access_token="EAAG-CHANNEL-SECRET", connection_state="open")
    EvolutionChannelFactory(company=company, api_key="EVO-SECRET-VALUE", connection_state="close")
    return company


def _company_form_data(company: Company, **overrides) -> dict:
    data = {
        "name": company.name,
        "contract": str(company.contract),
        "status": company.status,
        "support_phone": company.support_phone,
        "timezone": company.timezone,
        "inactivity_minutes": company.inactivity_minutes,
        "business_hours": "{}",
        "bot_enabled": "on",
        "message_grouping_seconds": 3,
        "max_invalid_answers": 3,
        "bot_quiet_after_business_minutes": 30,
        "chatwoot_resolve_on_inactivity": "on",
        "chatwoot_tell_assignment": "on",
        "active_channel_policy": company.active_channel_policy,
        "evolution_fallback_to_cloud": "on",
        "erp_system": "",
        "erp_verify_tls": "on",
        "billing_reminder_days": "[]",
        "billing_reminder_hour": 9,
        "channels-TOTAL_FORMS": 0,
        "channels-INITIAL_FORMS": 0,
        "channels-MIN_NUM_FORMS": 0,
        "channels-MAX_NUM_FORMS": 1000,
        "api_keys-TOTAL_FORMS": 0,
        "api_keys-INITIAL_FORMS": 0,
        "api_keys-MIN_NUM_FORMS": 0,
        "api_keys-MAX_NUM_FORMS": 1000,
    }
    data.update(overrides)
    return data


@pytest.mark.django_db
def test_index_shows_the_overview(admin_client, company_with_secrets):
    response = admin_client.get(reverse("admin:index"))
    assert response.status_code == 200
    overview = response.context["overview"]
    assert overview["companies_active"] == 1
    assert overview["channels"] == {"total": 2, "open": 1, "down": 1}
    assert "disconnected channels" in response.content.decode()


@pytest.mark.django_db
def test_company_list_shows_connection_states(admin_client, company_with_secrets, django_assert_max_num_queries):
    CompanyFactory.create_batch(10)
    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse("admin:companies_company_changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "pill-ok" in html and "Connected" in html
    assert "pill-bad" in html and "Disconnected" in html


@pytest.mark.django_db
def test_company_list_filters_and_search(admin_client, company_with_secrets):
    other = CompanyFactory(name="Sem Canal")
    url = reverse("admin:companies_company_changelist")
    down = admin_client.get(url, {"connection": "down"}).context["cl"].queryset
    assert list(down) == [company_with_secrets]
    found = admin_client.get(url, {"q": str(other.contract)}).context["cl"].queryset
    assert list(found) == [other]


@pytest.mark.django_db
def test_change_page_never_renders_stored_secrets(admin_client, company_with_secrets):
    response = admin_client.get(reverse("admin:companies_company_change", args=[company_with_secrets.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for secret in ("ERP-SECRET-VALUE", "CW-SECRET-VALUE", "EAAG-CHANNEL-SECRET", "EVO-SECRET-VALUE"):
        assert secret not in html
    assert "leave blank to keep" in html
    assert f"/webhooks/meta/?contract={company_with_secrets.contract}" in html


@pytest.mark.django_db
def test_saving_with_blank_secret_boxes_keeps_them_and_clear_empties(admin_client, company_with_secrets):
    url = reverse("admin:companies_company_change", args=[company_with_secrets.pk])
    response = admin_client.post(url, _company_form_data(company_with_secrets, name="Renamed", erp_token=""))
    assert response.status_code == 302, response.context["adminform"].form.errors
    company_with_secrets.refresh_from_db()
    assert company_with_secrets.name == "Renamed"
    assert company_with_secrets.erp_token == "ERP-SECRET-VALUE"

    response = admin_client.post(
        url, _company_form_data(company_with_secrets, erp_token__clear="1", chatwoot_api_token="CW-NEW")
    )
    assert response.status_code == 302
    company_with_secrets.refresh_from_db()
    assert company_with_secrets.erp_token == ""
    assert company_with_secrets.chatwoot_api_token == "CW-NEW"


@pytest.mark.django_db
def test_an_invalid_form_does_not_echo_the_typed_secret(admin_client, company_with_secrets):
    url = reverse("admin:companies_company_change", args=[company_with_secrets.pk])
    response = admin_client.post(
        url, _company_form_data(company_with_secrets, timezone="Mars/Olympus", erp_token="TYPED-NEW-SECRET")
    )
    assert response.status_code == 200
    assert "TYPED-NEW-SECRET" not in response.content.decode()


@pytest.mark.django_db
def test_company_added_with_an_evolution_channel_inline(admin_client):
    data = _company_form_data(
        CompanyFactory.build(name="Nova"),
        **{
            "channels-TOTAL_FORMS": 1,
            "channels-0-kind": "evolution",
            "channels-0-name": "Cobrança",
            "channels-0-is_active": "on",
            "channels-0-sends_notices": "on",
            "channels-0-api_base_url": "https://evo.example.com",
            "channels-0-api_key": "EVO-KEY",
            "channels-0-api_version": "v25.0",
            "channels-0-throughput_mps": 80,
            "channels-0-send_delay_ms": 5000,
        },
    )
    response = admin_client.post(reverse("admin:companies_company_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    company = Company.objects.get(name="Nova")
    channel = company.channels.get()
    assert channel.instance_name == str(company.contract)
    assert channel.api_key == "EVO-KEY"


@pytest.mark.django_db
def test_deactivate_action(admin_client, company_with_secrets):
    response = admin_client.post(
        reverse("admin:companies_company_changelist"),
        {"action": "deactivate", "_selected_action": [company_with_secrets.pk]},
    )
    assert response.status_code == 302
    company_with_secrets.refresh_from_db()
    assert company_with_secrets.status == Company.Status.INACTIVE


@pytest.mark.django_db
def test_channel_pages_render(admin_client, company_with_secrets):
    assert admin_client.get(reverse("admin:companies_channel_changelist")).status_code == 200
    channel = company_with_secrets.channels.get(kind=Channel.Kind.CLOUD)
    response = admin_client.get(reverse("admin:companies_channel_change", args=[channel.pk]))
    assert response.status_code == 200
    assert "EAAG-CHANNEL-SECRET" not in response.content.decode()


@pytest.mark.django_db
def test_api_key_is_shown_once_after_creation(admin_client, company):
    response = admin_client.post(reverse("admin:companies_apikey_add"), {"company": company.pk, "name": "ERP"})
    assert response.status_code == 200
    plaintext = response.context["plaintext"]
    assert plaintext.startswith("pnt_")
    assert plaintext in response.content.decode()
    api_key = ApiKey.objects.get(company=company)
    assert api_key.prefix == plaintext[:12]

    for url in (
        reverse("admin:companies_apikey_changelist"),
        reverse("admin:companies_apikey_change", args=[api_key.pk]),
        reverse("admin:companies_company_change", args=[company.pk]),
    ):
        page = admin_client.get(url)
        assert page.status_code == 200
        assert plaintext not in page.content.decode()


@pytest.mark.django_db
def test_revoke_action_revokes_keys(admin_client, company):
    from companies import services

    api_key, _ = services.create_api_key(company=company, name="ERP")
    admin_client.post(
        reverse("admin:companies_apikey_changelist"), {"action": "revoke", "_selected_action": [api_key.pk]}
    )
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


@pytest.mark.django_db
def test_platform_token_created_for_staff_only(admin_client, admin_user):
    response = admin_client.post(reverse("admin:companies_platformtoken_add"), {"user": admin_user.pk, "name": "ops"})
    assert response.status_code == 200
    assert response.context["plaintext"].startswith("pnts_")
    assert PlatformToken.objects.filter(user=admin_user).count() == 1


@pytest.mark.django_db
def test_a_disconnected_evolution_channel_shows_its_pairing_qr(admin_client):
    channel = EvolutionChannelFactory(
        connection_state="close", qr_code="data:image/png;base64,iVBORw0KGgo=", connection_reason="401"
    )
    html = admin_client.get(reverse("admin:companies_channel_change", args=[channel.pk])).content.decode()
    assert '<img src="data:image/png;base64,iVBORw0KGgo="' in html
    channel.connection_state = "open"
    channel.save()
    html = admin_client.get(reverse("admin:companies_channel_change", args=[channel.pk])).content.decode()
    assert "data:image/png;base64" not in html
