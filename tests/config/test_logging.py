import json
import logging
import os
import subprocess
import sys

import pytest

from config.logging import MaskingFilter, RequestIdFilter
from config.masking import mask_text
from config.request_id import reset_request_id, set_request_id


@pytest.mark.parametrize(
    ("text", "hidden", "shown"),
    [
        ("cliente CPF 529.982.247-25 pediu boleto", "982.247", "529.***.***-25"),
        ("cpf=52998224725", "52998224725", "529.***.***-25"),
        ("CNPJ 11.222.333/0001-81 bloqueado", "222.333/0001", "11.***.***/****-81"),
        ("doc 11222333000181", "11222333000181", "11.***.***/****-81"),
        ("Authorization: Bearer EAAGm0PX4ZCpsBAKZAsecretvalue", "EAAGm0PX4ZCpsBAKZAsecretvalue", "***"),
        ('{"access_token": "abc.def-ghi"}', "abc.def-ghi", '"access_token": "***"'),
        ("apikey=B6D711FCDE4D4FD5936544120E713976 ok", "B6D711FCDE4D4FD5936544120E713976", "apikey=***"),
        ("?u=joao&h=senha123&password=pw-9", "pw-9", "password=***"),
        ("key pnt_AbCdEfGhIjKlMnOpQrStUvWx used", "pnt_AbCdEfGhIjKlMnOpQrStUvWx", "key *** used"),
        ("token EAAGm0PX4ZCpsBAKZA1234567890abcdef here", "EAAGm0PX4ZCpsBAKZA1234567890abcdef", "***"),
    ],
)
def test_secrets_and_documents_are_masked(text, hidden, shown):
    masked = mask_text(text)
    assert hidden not in masked
    assert shown in masked


@pytest.mark.parametrize(
    "text",
    [
        "telefone 44988887777 (11 dígitos, dígitos verificadores de CPF inválidos)",
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA",
        "phone_number_id 106540352242922",
        "pedido 12345",
    ],
)
def test_ordinary_numbers_and_ids_are_left_alone(text):
    assert mask_text(text) == text


def _record(msg: str, *args, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("test", logging.INFO, __file__, 1, msg, args, exc_info)


def test_the_filter_masks_arguments_and_tracebacks():
    try:
        raise ValueError("token=supersecretvalue for cpf 529.982.247-25")
    except ValueError:
        import sys

        record = _record("calling %s with %s", "ixc", "password=hunter2", exc_info=sys.exc_info())
    MaskingFilter().filter(record)
    assert "hunter2" not in record.getMessage()
    assert "supersecretvalue" not in record.exc_text
    assert "982.247" not in record.exc_text
    assert "ValueError" in record.exc_text
    assert record.exc_info is None  # formatters can only use the masked text


def test_every_line_carries_the_request_id():
    token = set_request_id("req-12345678")
    try:
        record = _record("hello")
        RequestIdFilter().filter(record)
    finally:
        reset_request_id(token)
    assert record.request_id == "req-12345678"


def test_json_formatter_writes_one_masked_object_per_line():
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    config = settings.LOGGING["formatters"]["json"]
    formatter = JsonFormatter(config["fmt"], rename_fields=config["rename_fields"])
    record = _record("cpf %s", "529.982.247-25")
    RequestIdFilter().filter(record)
    MaskingFilter().filter(record)
    line = json.loads(formatter.format(record))
    assert line["message"] == "cpf 529.***.***-25"
    assert line["level"] == "INFO"
    assert "request_id" in line


@pytest.mark.django_db
def test_requests_get_an_id_echoed_in_the_response(client):
    response = client.get("/healthz")
    assert len(response["X-Request-ID"]) == 32
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123-def-456")
    assert response["X-Request-ID"] == "abc-123-def-456"
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces <script>")
    assert response["X-Request-ID"] != "bad id with spaces <script>"


@pytest.mark.django_db
def test_a_log_line_written_during_a_request_has_its_id(client, caplog):
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get("/api/v1/me", HTTP_X_REQUEST_ID="trace-0001-abcd")
    assert response.status_code == 401
    record = next(r for r in caplog.records if r.name == "django.request")
    RequestIdFilter().filter(record)
    assert record.request_id == "trace-0001-abcd"


def test_the_chatwoot_webhook_secret_is_masked_in_paths():
    line = "POST /webhooks/chatwoot/1220f3e9-f792-40cd-937a-f9fc6f79395f/s3cretToken/ 403"
    assert mask_text(line) == "POST /webhooks/chatwoot/1220f3e9-f792-40cd-937a-f9fc6f79395f/***/ 403"


def test_a_request_warning_is_written_once_with_debug_on(tmp_path):
    """Under DEBUG (make run) Django adds a console handler of its own to the "django" logger."""
    script = "import logging, django; django.setup(); logging.getLogger('django.request').warning('Not Found: /nope')"
    env = {**os.environ, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Not Found: /nope") == 1, result.stderr
