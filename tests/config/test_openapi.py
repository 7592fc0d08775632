import pytest
import yaml


@pytest.fixture
def schema(client) -> dict:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


@pytest.mark.django_db
def test_every_endpoint_is_documented_with_a_summary(schema):
    operations = [op for path in schema["paths"].values() for op in path.values() if isinstance(op, dict)]
    assert {"/api/v1/me", "/api/v1/companies/", "/api/v1/companies/{contract}/channels/"} <= set(schema["paths"])
    for operation in operations:
        assert operation.get("summary"), operation["operationId"]


@pytest.mark.django_db
def test_write_endpoints_carry_request_examples(schema):
    for path, method in [
        ("/api/v1/companies/", "post"),
        ("/api/v1/companies/{contract}/channels/", "post"),
        ("/api/v1/companies/{contract}/api-keys/", "post"),
    ]:
        content = schema["paths"][path][method]["requestBody"]["content"]["application/json"]
        assert content.get("examples"), (path, method)


@pytest.mark.django_db
def test_errors_are_documented_in_the_error_format(schema):
    me = schema["paths"]["/api/v1/me"]["get"]["responses"]
    assert {"200", "401", "429"} <= set(me)
    assert me["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/Error")


@pytest.mark.django_db
def test_both_key_headers_are_security_schemes(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A company API key (pnt_…) or a platform token (pnts_…).",
    }
    assert schemes["Bearer"]["scheme"] == "bearer"


@pytest.mark.django_db
def test_secret_fields_are_write_only_in_the_schema(schema):
    company = schema["components"]["schemas"]["Company"]["properties"]
    assert "erp_token" not in company
    assert "erp_token" in schema["components"]["schemas"]["CompanyRequest"]["properties"]


@pytest.mark.django_db
def test_swagger_ui_is_served_without_any_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    asset = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    try:
        assert asset.status_code == 200
        assert b"SwaggerUIBundle" in b"".join(asset.streaming_content)
    finally:
        asset.close()


@pytest.mark.django_db
def test_every_operation_has_an_example(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            bodies = [operation.get("requestBody", {}), *operation["responses"].values()]
            has_example = any(media.get("examples") for body in bodies for media in body.get("content", {}).values())
            if method != "delete":
                assert has_example, f"{method.upper()} {path} has no example"
