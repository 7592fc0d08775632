"""Lists are paginated with ``page`` and ``page_size`` (1 to 500); a value out of bounds is a 400 naming it.

DRF's pagination ignored a ``page_size`` it could not use (0, -1, "abc", 501) and answered 200 with the
default size, so a client never learnt its mistake.
"""

import pytest

from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db
LISTS = ["/api/v1/companies/", "/api/v1/messages"]


def _client(path, staff_client, company_client):
    return staff_client if path.startswith("/api/v1/companies") else company_client


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("value", ["0", "-1", "abc", "501", "1.5", " 5", "+5", "\u0665", "1e3", "99999999999"])
def test_a_page_size_out_of_bounds_is_400(staff_client, company_client, path, value):
    response = _client(path, staff_client, company_client).get(path, {"page_size": value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["details"]) == ("invalid", {"page_size": ["A whole number from 1 to 500."]})


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5"])
def test_a_page_that_is_not_a_whole_number_from_1_is_400(staff_client, company_client, path, value):
    response = _client(path, staff_client, company_client).get(path, {"page": value})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"page": ["A whole number from 1."]}


def test_page_and_page_size_within_bounds_paginate(staff_client):
    CompanyFactory.create_batch(3)
    body = staff_client.get("/api/v1/companies/", {"page_size": "2", "page": "2"}).json()
    assert (body["count"], len(body["results"]), body["previous"] is not None) == (3, 1, True)
    assert len(staff_client.get("/api/v1/companies/", {"page_size": "500"}).json()["results"]) == 3
    assert staff_client.get("/api/v1/companies/", {"page": "last", "page_size": "2"}).json()["next"] is None
    assert len(staff_client.get("/api/v1/companies/", {"page_size": ""}).json()["results"]) == 3  # the default


def test_a_page_past_the_last_is_404(staff_client):
    response = staff_client.get("/api/v1/companies/", {"page": "2"})
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_the_schema_states_the_bounds(client):
    import yaml

    parameters = yaml.safe_load(client.get("/api/schema/").content)["paths"]["/api/v1/messages"]["get"]["parameters"]
    by_name = {parameter["name"]: parameter["schema"] for parameter in parameters}
    assert by_name["page_size"] == {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}
    assert by_name["page"] == {"type": "integer", "minimum": 1}
