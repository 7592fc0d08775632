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


def _validator(schema: dict, component: str):
    from jsonschema import Draft7Validator  # schemathesis' own dependency

    return Draft7Validator({"$ref": f"#/components/schemas/{component}", "components": schema["components"]})


@pytest.mark.django_db
def test_a_message_needs_exactly_one_content_by_the_schema(schema):
    body = schema["paths"]["/api/v1/messages"]["post"]["requestBody"]["content"]["application/json"]
    validator = _validator(schema, body["schema"]["$ref"].rsplit("/", 1)[1])
    to = {"to": "5544988887777"}
    valid = [
        {**to, "text": "Olá"},
        {**to, "media": {"kind": "document", "url": "https://erp.example.com/b.pdf"}},
        {**to, "location": {"latitude": -23.4, "longitude": -51.9}},
        {**to, "template": {"name": "fatura", "parameters": ["Maria"]}},
        *(example["value"] for example in body["examples"].values()),
    ]
    for message in valid:
        assert validator.is_valid(message), message
    for message in [to, {**to, "text": "Olá", "template": {"name": "fatura"}}, {**to, "txt": "typo"}]:
        assert not validator.is_valid(message), message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "status", "codes"),
    [
        (
            "/api/v1/messages",
            "post",
            "409",
            {"window_closed", "no_channel", "company_inactive", "idempotency_key_reused"},
        ),
        ("/api/v1/messages", "post", "422", {"template_not_usable"}),
        ("/api/v1/messages/{id}/retry", "post", "409", {"not_retryable"}),
    ],
)
def test_conflicts_and_unusable_templates_are_documented_with_their_codes(schema, path, method, status, codes):
    response = schema["paths"][path][method]["responses"][status]
    assert response["content"]["application/json"]["schema"]["$ref"].endswith("/Error")
    examples = response["content"]["application/json"]["examples"].values()
    assert {example["value"]["error"]["code"] for example in examples} == codes


@pytest.mark.django_db
def test_each_operation_documents_the_errors_it_can_answer(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            statuses = set(operation["responses"])
            assert {"400", "401", "403", "413", "429", "503"} <= statuses, (method, path)
            assert ("404" in statuses) == (path != "/api/v1/me" and (method, path) not in NO_404), (method, path)
            assert ("415" in statuses) == ("requestBody" in operation), (method, path)


NO_404 = {
    ("post", "/api/v1/companies/"),
    ("post", "/api/v1/messages"),
    ("post", "/api/v1/sms"),
    ("post", "/api/v1/campaigns"),
    ("post", "/api/v1/tags"),
}


@pytest.mark.django_db
def test_request_bodies_refuse_unknown_properties_in_the_schema_too(schema):
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request") and "properties" in component:
            assert component.get("additionalProperties") is False, name
