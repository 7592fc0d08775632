"""The production profile passes Django's deploy checks and refuses to start without real secrets."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DJANGO_ENV"}}
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "VAR_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def production_env() -> dict[str, str]:
    return {
        "DJANGO_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "ALLOWED_HOSTS": "ponte.example.com",
    }


def test_production_profile_passes_check_deploy(production_env, tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=production_env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without(production_env, tmp_path, missing):
    env = {k: v for k, v in production_env.items() if k != missing}
    result = _manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert f"{missing} must be set" in result.stderr
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_a_weak_secret_key(production_env, tmp_path):
    result = _manage("check", env={**production_env, "SECRET_KEY": "django-insecure-short"}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be a random value" in result.stderr


def test_development_generates_its_secrets_once(tmp_path):
    env = {"DJANGO_ENV": "development"}
    assert _manage("check", env=env, tmp_path=tmp_path).returncode == 0
    first = (tmp_path / "secret_key").read_text()
    assert _manage("check", env=env, tmp_path=tmp_path).returncode == 0
    assert (tmp_path / "secret_key").read_text() == first
    assert oct((tmp_path / "field_encryption_key").stat().st_mode)[-3:] == "600"
