"""Tags: the company's list, creating one (an existing name answers the existing tag), on and off a session."""

import pytest

from conversations.models import Tag
from conversations.services import sessions


@pytest.mark.django_db
def test_a_tag_is_created_once_and_the_same_name_answers_it(company_client, company, other_company):
    Tag.objects.create(company=other_company, name="vip")
    created = company_client.post("/api/v1/tags", {"name": "  vip "}, format="json")
    assert created.status_code == 201
    assert created.json()["name"] == "vip"
    again = company_client.post("/api/v1/tags", {"name": "vip"}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == created.json()["id"]
    assert company_client.post("/api/v1/tags", {"name": "VIP"}, format="json").status_code == 201
    assert Tag.objects.filter(company=company).count() == 2


@pytest.mark.django_db
def test_the_company_tags_are_listed_by_name_and_paginated(company_client, company, other_company):
    for name in ["suporte", "financeiro", "vip"]:
        Tag.objects.create(company=company, name=name)
    Tag.objects.create(company=other_company, name="alheia")
    body = company_client.get("/api/v1/tags").json()
    assert [t["name"] for t in body["results"]] == ["financeiro", "suporte", "vip"]
    page = company_client.get("/api/v1/tags", {"page_size": 2, "page": 2}).json()
    assert [t["name"] for t in page["results"]] == ["vip"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "a" * 51}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"name": 12}, None),  # a number is read as its digits, as DRF's CharField does
        ({"name": ["vip"]}, "name"),
        ({"name": "vip", "color": "red"}, "color"),
    ],
)
def test_a_tag_name_that_cannot_be_used_is_a_400(company_client, payload, field):
    response = company_client.post("/api/v1/tags", payload, format="json")
    if field is None:
        assert response.status_code == 201
        return
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["details"]


@pytest.mark.django_db
def test_tags_are_added_to_a_session_creating_unknown_ones(company_client, company, session):
    Tag.objects.create(company=company, name="vip")
    response = company_client.post(
        f"/api/v1/sessions/{session.pk}/tags", {"tags": ["vip", "novo", "vip"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["tags"] == ["novo", "vip"]
    assert set(Tag.objects.filter(company=company).values_list("name", flat=True)) == {"vip", "novo"}
    more = company_client.post(f"/api/v1/sessions/{session.pk}/tags", {"tags": ["suporte"]}, format="json")
    assert more.json()["tags"] == ["novo", "suporte", "vip"]


@pytest.mark.django_db
def test_a_closed_session_can_be_tagged(company_client, session):
    sessions.close(session, reason="inactivity")
    response = company_client.post(f"/api/v1/sessions/{session.pk}/tags", {"tags": ["resolvido"]}, format="json")
    assert response.json()["tags"] == ["resolvido"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload", [{}, {"tags": []}, {"tags": "vip"}, {"tags": ["ok", ""]}, {"tags": ["x/y"]}, {"tags": ["t"] * 51}]
)
def test_session_tags_that_cannot_be_used_are_a_400(company_client, session, payload):
    response = company_client.post(f"/api/v1/sessions/{session.pk}/tags", payload, format="json")
    assert response.status_code == 400
    assert "tags" in response.json()["error"]["details"]
    assert not session.tags.exists()


@pytest.mark.django_db
def test_a_tag_is_taken_off_a_session_and_stays_the_companys(company_client, company, session):
    sessions.tag(session, ["vip", "segunda via"])
    response = company_client.delete(f"/api/v1/sessions/{session.pk}/tags/segunda via")
    assert response.status_code == 204
    assert list(session.tags.values_list("name", flat=True)) == ["vip"]
    assert Tag.objects.filter(company=company, name="segunda via").exists()
    again = company_client.delete(f"/api/v1/sessions/{session.pk}/tags/segunda via")
    assert again.status_code == 404
    assert again.json()["error"]["code"] == "not_found"
    assert company_client.delete(f"/api/v1/sessions/{session.pk}/tags/desconhecida").status_code == 404


@pytest.mark.django_db
def test_another_companys_tags_and_sessions_are_not_reached(company_client, other_session):
    sessions.tag(other_session, ["vip"])
    assert company_client.get("/api/v1/tags").json()["count"] == 0
    assert company_client.delete(f"/api/v1/sessions/{other_session.pk}/tags/vip").status_code == 404
    assert other_session.tags.count() == 1
