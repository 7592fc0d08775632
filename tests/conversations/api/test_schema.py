"""The conversation endpoints are in the OpenAPI document, which generates without a warning."""

import pytest
import yaml
from django.core.management import call_command

PATHS = {
    "/api/v1/contacts": {"get"},
    "/api/v1/contacts/{id}": {"get"},
    "/api/v1/contacts/{id}/sessions": {"get"},
    "/api/v1/contacts/{id}/messages": {"get"},
    "/api/v1/contacts/{id}/timeline": {"get"},
    "/api/v1/contacts/{id}/bot/pause": {"post"},
    "/api/v1/contacts/{id}/bot/resume": {"post"},
    "/api/v1/sessions/{id}": {"get"},
    "/api/v1/sessions/{id}/messages": {"get"},
    "/api/v1/sessions/{id}/close": {"post"},
    "/api/v1/sessions/{id}/tags": {"post"},
    "/api/v1/sessions/{id}/tags/{name}": {"delete"},
    "/api/v1/tags": {"get", "post"},
}


@pytest.mark.django_db
def test_the_schema_generates_without_warnings_and_has_every_endpoint(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))  # raises on any warning
    schema = yaml.safe_load(out.read_text())
    for path, methods in PATHS.items():
        assert set(schema["paths"][path]) >= methods, path


@pytest.mark.django_db
def test_the_message_filters_are_documented(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/contacts/{id}/messages"]["get"]["parameters"]}
    assert {"since", "until", "direction", "status", "page", "page_size"} <= set(parameters)
    assert parameters["direction"]["schema"]["enum"] == ["in", "out"]
    conflict = schema["paths"]["/api/v1/sessions/{id}/close"]["post"]["responses"]["409"]
    codes = {e["value"]["error"]["code"] for e in conflict["content"]["application/json"]["examples"].values()}
    assert codes == {"session_closed"}
