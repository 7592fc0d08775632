import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from companies.business_hours import is_open, validate_business_hours
from companies.models import Channel, Company
from tests.factories import CloudChannelFactory, CompanyFactory


def _raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608 (test-only, fixed names)
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_secrets_are_encrypted_in_the_database_and_plain_in_python():
    channel = CloudChannelFactory(access_token="EAAGsuperSecretToken123")
    stored = _raw_column("companies_channel", "access_token", channel.pk)
    assert "EAAGsuperSecretToken123" not in stored
    assert stored.startswith("gAAAA")  # a Fernet token
    assert Channel.objects.get(pk=channel.pk).access_token == "EAAGsuperSecretToken123"


@pytest.mark.django_db
def test_empty_secret_is_stored_empty():
    company = CompanyFactory(chatwoot_api_token="")
    assert _raw_column("companies_company", "chatwoot_api_token", company.pk) == ""


@pytest.mark.django_db
def test_secret_encrypted_with_an_old_key_still_reads_after_rotation(settings):
    from cryptography.fernet import Fernet

    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    company = CompanyFactory(erp_token="erp-secret")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), old_key]
    assert Company.objects.get(pk=company.pk).erp_token == "erp-secret"

    from django.core.management import call_command

    call_command("rotate_encryption_keys", stdout=io.StringIO())
    settings.FIELD_ENCRYPTION_KEYS = settings.FIELD_ENCRYPTION_KEYS[:1]
    assert Company.objects.get(pk=company.pk).erp_token == "erp-secret"


@pytest.mark.django_db
def test_secret_written_with_an_unknown_key_fails_without_revealing_it(settings):
    from cryptography.fernet import Fernet

    from config.crypto import DecryptionError

    company = CompanyFactory(erp_token="erp-secret")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(DecryptionError) as excinfo:
        Company.objects.get(pk=company.pk)
    assert "erp-secret" not in str(excinfo.value)


@pytest.mark.parametrize(
    "value",
    [
        {"mon": [["08:00", "18:00"]]},
        {"sat": [["08:00", "12:00"], ["13:00", "17:30"]]},
        {},
    ],
)
def test_valid_business_hours(value):
    validate_business_hours(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "must be an object"),
        ({"monday": []}, "Unknown weekday"),
        ({"mon": [["8h", "18:00"]]}, "HH:MM"),
        ({"mon": [["18:00", "08:00"]]}, "must be before"),
        ({"mon": "08:00-18:00"}, r"list of \[start, end\]"),
    ],
)
def test_invalid_business_hours_say_what_is_wrong(value, message):
    with pytest.raises(ValidationError, match=message):
        validate_business_hours(value)


def test_is_open_reads_the_company_time_zone():
    hours = {"mon": [["08:00", "18:00"]]}
    # 2026-11-23 is a Monday; 10:30 UTC is 07:30 in São Paulo (UTC-3), 11:30 UTC is 08:30.
    assert not is_open(hours, "America/Sao_Paulo", dt.datetime(2026, 11, 23, 10, 30, tzinfo=dt.UTC))
    assert is_open(hours, "America/Sao_Paulo", dt.datetime(2026, 11, 23, 11, 30, tzinfo=dt.UTC))
    assert not is_open(hours, "America/Sao_Paulo", dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC))
    assert is_open({}, "America/Sao_Paulo", dt.datetime(2026, 11, 24, 3, 0, tzinfo=dt.UTC))


@pytest.mark.django_db
def test_unknown_timezone_is_rejected():
    company = CompanyFactory.build(timezone="Mars/Olympus")
    with pytest.raises(ValidationError) as excinfo:
        company.full_clean()
    assert "timezone" in excinfo.value.message_dict


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kind", "missing"),
    [
        (Channel.Kind.CLOUD, {"phone_number_id", "waba_id", "access_token"}),
        (Channel.Kind.EVOLUTION, {"api_base_url", "api_key"}),
    ],
)
def test_channel_requires_its_kind_credentials(company, kind, missing):
    channel = Channel(company=company, kind=kind, name="x")
    with pytest.raises(ValidationError) as excinfo:
        channel.clean()
    assert set(excinfo.value.message_dict) == missing


@pytest.mark.django_db
def test_console_channels_are_refused_in_production(company, settings):
    settings.IS_PRODUCTION = True
    with pytest.raises(ValidationError) as excinfo:
        Channel(company=company, kind=Channel.Kind.CONSOLE, name="x").clean()
    assert "kind" in excinfo.value.message_dict


@pytest.mark.django_db
def test_cloud_base_url_defaults_to_meta_and_is_overridable():
    channel = CloudChannelFactory()
    assert channel.base_url == "https://graph.facebook.com"
    channel.api_base_url = "http://127.0.0.1:9999/"
    assert channel.base_url == "http://127.0.0.1:9999"
