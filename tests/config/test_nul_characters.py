"""A NUL character anywhere a client can put one is a 400 in the error format, never a 500 or 503.

PostgreSQL refuses NUL in text, so before the fix ``?status=%00`` failed inside the query (500) and a
webhook lookup looked like a database outage (503). The walks below send one to every operation of the
schema, in every parameter and body property.
"""

import pytest
import yaml
from rest_framework.test import APIClient

from config.nul import nul_path
from conversations.services import outbound, sessions
from conversations.whatsapp import content
from tests.factories import EvolutionChannelFactory

pytestmark = pytest.mark.django_db
NUL = "\x00"


@pytest.fixture(scope="module")
def schema() -> dict:
    return yaml.safe_load(APIClient().get("/api/schema/").content)


@pytest.fixture(scope="module")
def operations(schema) -> list[tuple[str, str, dict]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
    ]


@pytest.fixture
def rows(company, cloud_channel, staff_client, company_client):
    channel = EvolutionChannelFactory(company=company, connection_state="open")
    message = outbound.send_message(company=company, to="5544988887777", content=content.text("Olá"), channel=channel)
    api_key = company.api_keys.first()
    session, _ = sessions.open_session(message.contact)
    return {
        "contract": str(company.contract),
        "channel": cloud_channel.pk,
        "key": api_key.pk,
        "message": message.pk,
        "contact": message.contact_id,
        "session": session.pk,
    }


def _client_for(path: str, staff_client, company_client):
    return staff_client if path.startswith("/api/v1/companies") else company_client


def _url(path: str, rows: dict, **override: str) -> str:
    kinds = {"/channels/": "channel", "/api-keys/": "key", "/contacts/": "contact", "/sessions/": "session"}
    kind = next((kind for part, kind in kinds.items() if part in path), "message")
    values = {"contract": rows["contract"], "id": str(rows[kind]), **override}
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


def _send(client, method: str, url: str, **kwargs):
    return getattr(client, method)(url, format="json", **kwargs)


def _assert_nul_refused(response, where: str) -> None:
    assert response.status_code == 400, (where, response.status_code, response.content)
    error = response.json()["error"]
    assert error["code"] == "invalid", where
    assert where in error["details"], (where, error)


def test_every_operation_refuses_a_nul_in_every_parameter(operations, rows, staff_client, company_client):
    checked = 0
    for path, method, operation in operations:
        client = _client_for(path, staff_client, company_client)
        for parameter in operation.get("parameters", []):
            name, location = parameter["name"], parameter["in"]
            if location == "path":
                response = _send(client, method, _url(path, rows, **{name: f"1{NUL}"}))
                _assert_nul_refused(response, "path")
            elif location == "query":
                response = _send(client, method, f"{_url(path, rows)}?{name}=%00")
                _assert_nul_refused(response, name)
            elif location == "header":
                response = _send(client, method, _url(path, rows), **{f"HTTP_{name.upper().replace('-', '_')}": NUL})
                _assert_nul_refused(response, name)
            checked += 1
    assert checked >= 25  # every list's page and page_size, every contract and id, status, Idempotency-Key


def test_every_operation_refuses_a_nul_in_every_body_property(schema, operations, rows, staff_client, company_client):
    schemas = schema["components"]["schemas"]
    checked = 0
    for path, method, operation in operations:
        media = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if not media:
            continue
        client = _client_for(path, staff_client, company_client)
        body = media["schema"]
        variants = [body, *body.get("oneOf", [])]
        names = {name for variant in variants for name in _properties(variant, schemas)}
        for name in sorted(names):
            _assert_nul_refused(_send(client, method, _url(path, rows), data={name: f"x{NUL}"}), name)
            checked += 1
        _assert_nul_refused(_send(client, method, _url(path, rows), data={f"x{NUL}": 1}), "x\\u0000")
    assert checked >= 50


def _properties(schema: dict, schemas: dict) -> set[str]:
    if "$ref" in schema:
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]]
    return set(schema.get("properties", {}))


def test_every_operation_refuses_a_nul_with_no_key_as_400_too(operations, rows):
    for path, method, _ in operations:
        response = _send(APIClient(), method, f"{_url(path, rows)}?x=%00")
        _assert_nul_refused(response, "x")


def test_a_nul_deep_in_a_body_is_named_by_its_path(company_client, rows):
    body = {"to": "5544988887777", "template": {"name": "fatura", "parameters": ["Maria", f"R$ {NUL}"]}}
    response = company_client.post("/api/v1/messages", body, format="json")
    _assert_nul_refused(response, "template.parameters.1")


def test_a_nul_in_a_filter_is_400_not_a_database_error(company_client, rows):
    # The probe's request: on PostgreSQL it was a 500 (DataError raised by psycopg).
    _assert_nul_refused(company_client.get("/api/v1/messages?status=%00"), "status")


def test_a_nul_in_a_cookie_is_400(company_client):
    cookie = 'sessionid="' + "\\000" * 10 + '"'  # Django unquotes it: ten NULs, looked up as a session key
    _assert_nul_refused(company_client.get("/api/v1/me", HTTP_COOKIE=cookie), "Cookie")


def test_a_nul_in_a_webhook_query_is_400(client, company):
    response = client.get("/webhooks/meta/", {"contract": str(company.contract), "hub.verify_token": NUL})
    _assert_nul_refused(response, "hub.verify_token")


def test_outside_the_json_paths_a_nul_gets_the_html_400(admin_client):
    response = admin_client.get("/admin/companies/company/?q=%00")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ("ok", None),
        ({"a": [1, {"b": "ok"}], "c": None}, None),
        (f"x{NUL}", "non_field_errors"),
        ({"a": [1, {"b": f"x{NUL}"}]}, "a.1.b"),
        ({f"k{NUL}": 1}, "k\\u0000"),
        ([[f"{NUL}"]], "0.0"),
    ],
)
def test_nul_path_names_where_the_nul_is(document, where):
    assert nul_path(document) == where
