"""Bad input is a 4xx in the error format that names the field; nothing is a 500."""

import pytest


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


@pytest.mark.django_db
def test_malformed_json_is_400(staff_client):
    response = staff_client.post("/api/v1/companies/", '{"name": "x",', content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "parse_error"


@pytest.mark.django_db
def test_truncated_body_is_400(staff_client):
    response = staff_client.post("/api/v1/companies/", '{"name": "Prov', content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "parse_error"


@pytest.mark.django_db
def test_a_json_array_instead_of_an_object_is_400(staff_client):
    response = staff_client.post("/api/v1/companies/", "[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert "non_field_errors" in _error(response)["details"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("inactivity_minutes", "thirty"),
        ("inactivity_minutes", 0),
        ("bot_enabled", "perhaps"),
        ("business_hours", {"mon": [["18:00", "08:00"]]}),
        ("timezone", "Mars/Olympus"),
        ("status", "sleeping"),
        ("chatwoot_base_url", "not a url"),
        ("name", ""),
        ("name", "x" * 121),
    ],
)
def test_wrong_values_name_the_field(staff_client, field, value):
    response = staff_client.post("/api/v1/companies/", {"name": "ok", field: value}, format="json")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "invalid"
    assert field in error["details"]


@pytest.mark.django_db
def test_unknown_fields_are_rejected_by_name(staff_client):
    response = staff_client.post("/api/v1/companies/", {"name": "ok", "nmae": "typo"}, format="json")
    assert response.status_code == 400
    assert _error(response)["details"] == {"nmae": ["Unknown field."]}


@pytest.mark.django_db
def test_a_contract_that_is_not_a_uuid_is_400_naming_contract(staff_client):
    response = staff_client.get("/api/v1/companies/not-a-uuid/")
    assert response.status_code == 400
    assert "contract" in _error(response)["details"]


@pytest.mark.django_db
def test_an_oversized_body_is_413(staff_client, settings):
    settings.API_MAX_BODY_BYTES = 1024
    response = staff_client.post("/api/v1/companies/", {"name": "x" * 2000}, format="json")
    assert response.status_code == 413
    error = _error(response)
    assert error["code"] == "payload_too_large"
    assert error["details"] == {"limit_bytes": 1024}


@pytest.mark.django_db
def test_a_non_numeric_content_length_is_400(staff_client):
    response = staff_client.post("/api/v1/companies/", "{}", content_type="application/json", CONTENT_LENGTH="lots")
    assert response.status_code == 400


@pytest.mark.django_db
def test_a_wrong_content_type_is_415(staff_client):
    response = staff_client.post("/api/v1/companies/", "name=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


@pytest.mark.django_db
def test_an_unsupported_method_is_405(company_client):
    response = company_client.delete("/api/v1/me")
    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_an_unknown_api_path_is_404_json(company_client):
    response = company_client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert _error(response)["code"] == "not_found"
