import pytest

from config import health


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_checks_database_cache_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "broker": "ok"}


@pytest.mark.django_db
@pytest.mark.parametrize("failing", ["database", "cache", "broker"])
def test_readyz_is_503_naming_the_failed_check(client, monkeypatch, failing):
    def broken() -> None:
        raise ConnectionError("password=hunter2 refused")

    monkeypatch.setitem(health.CHECKS, failing, broken)
    response = client.get("/readyz")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert failing in error["message"]
    assert error["details"]["checks"][failing] == "failed: ConnectionError"
    assert "hunter2" not in response.content.decode()


@pytest.mark.django_db
def test_readyz_fails_when_the_broker_is_unreachable(client, monkeypatch):
    from types import SimpleNamespace

    from kombu import Connection

    # Nothing listens on port 1: a real connection attempt that is refused.
    unreachable = SimpleNamespace(connection_for_write=lambda: Connection("redis://127.0.0.1:1/0"))
    monkeypatch.setattr(health, "celery_app", unreachable)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["error"]["details"]["checks"]["broker"].startswith("failed")


@pytest.mark.django_db
def test_readyz_reports_the_last_worker_heartbeat_on_a_shared_cache(client, settings):
    from config.tasks import heartbeat

    settings.CACHE_IS_SHARED = True
    written = heartbeat()
    assert client.get("/readyz").json()["worker_last_heartbeat"] == written
    settings.CACHE_IS_SHARED = False
    assert "worker_last_heartbeat" not in client.get("/readyz").json()
