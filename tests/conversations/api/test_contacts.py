"""GET /api/v1/contacts (search by phone or name) and /contacts/{id}: the key's company only, documents masked."""

import datetime as dt

import pytest
from django.utils import timezone

from conversations.services import sessions
from tests.conversations.api.conftest import make_contact


@pytest.mark.django_db
def test_contacts_are_listed_most_recently_heard_from_first(company_client, company, other_contact):
    now = timezone.now()
    old = make_contact(company, "5544988880001", name="Antigo", last_inbound_at=now - dt.timedelta(days=3))
    new = make_contact(company, "5544988880002", name="Novo", last_inbound_at=now)
    never = make_contact(company, "5544988880003", name="Nunca escreveu", last_inbound_at=None)
    body = company_client.get("/api/v1/contacts").json()
    assert body["count"] == 3
    assert [c["id"] for c in body["results"]] == [new.pk, old.pk, never.pk]


@pytest.mark.django_db
def test_contacts_are_paginated(company_client, company):
    for n in range(5):
        make_contact(company, f"55449888800{n:02d}")
    first = company_client.get("/api/v1/contacts", {"page_size": 2}).json()
    assert (first["count"], len(first["results"])) == (5, 2)
    assert first["next"]
    last = company_client.get("/api/v1/contacts", {"page_size": 2, "page": 3}).json()
    assert len(last["results"]) == 1
    past = company_client.get("/api/v1/contacts", {"page_size": 2, "page": 4})
    assert past.status_code == 404
    assert past.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "search",
    [
        "5544998887777",
        "+55 (44) 99888-7777",
        "554498887777",  # without the ninth digit, as WhatsApp accounts older than it send it
        "+55 44 9888-7777",
        "44998887777",  # no country code
        "(44) 9888-7777",  # no country code and no ninth digit
        "8887777",  # a piece of the number
    ],
)
def test_a_phone_finds_the_contact_however_it_is_written(company_client, contact, search):
    make_contact(contact.company, "5544988881111", name="Outro")
    body = company_client.get("/api/v1/contacts", {"search": search}).json()
    assert [c["id"] for c in body["results"]] == [contact.pk]


@pytest.mark.django_db
def test_a_name_is_searched_case_insensitively_in_both_names(company_client, company):
    maria = make_contact(company, "5544988880001", name="MARIA souza")
    saved = make_contact(company, "5544988880002", name="", saved_name="Maria da Padaria")
    make_contact(company, "5544988880003", name="João")
    body = company_client.get("/api/v1/contacts", {"search": "maria"}).json()
    assert {c["id"] for c in body["results"]} == {maria.pk, saved.pk}
    assert company_client.get("/api/v1/contacts", {"search": "  "}).json()["count"] == 3


@pytest.mark.django_db
def test_another_companys_contacts_are_never_found(company_client, other_contact):
    assert company_client.get("/api/v1/contacts", {"search": other_contact.phone}).json()["count"] == 0
    assert company_client.get("/api/v1/contacts", {"search": "Outra"}).json()["count"] == 0
    for path in ["", "/sessions", "/messages", "/timeline"]:
        response = company_client.get(f"/api/v1/contacts/{other_contact.pk}{path}")
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
@pytest.mark.parametrize(("search", "message"), [("12", "at least 4 digits"), ("x" * 101, "no more than 100")])
def test_a_search_that_cannot_be_used_is_a_400(company_client, contact, search, message):
    response = company_client.get("/api/v1/contacts", {"search": search})
    assert response.status_code == 400
    assert message in response.json()["error"]["details"]["search"][0]


@pytest.mark.django_db
def test_a_contact_shows_its_customers_masked_and_its_open_session(company_client, contact):
    session, _ = sessions.open_session(contact)
    sessions.link_customer(session, customer_code="1001", name="Maria Souza", document="52998224725", confirmed=True)
    body = company_client.get(f"/api/v1/contacts/{contact.pk}").json()
    assert body["phone"] == "5544998887777"
    assert body["open_session"] == session.pk
    assert body["window_open"] is True
    assert body["customers"] == [
        {"code": "1001", "name": "Maria Souza", "document": "529.***.***-25", "confirmed": True}
    ]
    assert "52998224725" not in str(body)
    sessions.close(session, reason="closed")
    assert company_client.get(f"/api/v1/contacts/{contact.pk}").json()["open_session"] is None


@pytest.mark.django_db
def test_the_contact_list_reads_in_a_fixed_number_of_queries(company_client, company, django_assert_max_num_queries):
    for n in range(20):
        contact = make_contact(company, f"55449888800{n:02d}")
        session, _ = sessions.open_session(contact)
        sessions.link_customer(session, customer_code=str(n), name="C", document="52998224725", confirmed=True)
    with django_assert_max_num_queries(6):
        assert len(company_client.get("/api/v1/contacts").json()["results"]) == 20


@pytest.mark.django_db
def test_keys_and_callers_are_checked(anon_client, staff_client, contact):
    assert anon_client.get("/api/v1/contacts").status_code == 401
    response = staff_client.get("/api/v1/contacts")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This endpoint needs a company API key."
