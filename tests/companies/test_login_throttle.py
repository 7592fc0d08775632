"""Admin login is throttled by django-axes: a username from one address is locked out after the failure limit,
for the cool-off, without locking the same person out from elsewhere."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import StaffUserFactory

PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff(db):
    user = StaffUserFactory(username="ops")
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    return user


def log_in(client: Client, password: str, *, address: str = "203.0.113.7"):
    return client.post(
        reverse("admin:login"),
        {"username": "ops", "password": password, "next": reverse("admin:index")},
        REMOTE_ADDR=address,
    )


def fail(client: Client, times: int) -> None:
    for _ in range(times):
        assert log_in(client, "wrong").status_code == 200  # the form again, with its error


def lock_out(client: Client, limit: int) -> None:
    fail(client, limit - 1)
    assert log_in(client, "wrong").status_code == 429  # the failure that reaches the limit locks at once


def test_the_right_password_after_too_many_failures_is_refused(staff, settings):
    client = Client()
    fail(client, settings.AXES_FAILURE_LIMIT - 1)
    response = log_in(client, "wrong")
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    locked = log_in(client, PASSWORD)
    assert locked.status_code == 429
    assert client.get(reverse("admin:index")).status_code == 302  # not logged in


def test_a_lockout_is_per_username_and_address(staff, settings):
    lock_out(Client(), settings.AXES_FAILURE_LIMIT)
    response = log_in(Client(), PASSWORD, address="198.51.100.20")
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_a_lockout_ends_after_the_cool_off(staff, settings):
    lock_out(Client(), settings.AXES_FAILURE_LIMIT)
    assert log_in(Client(), PASSWORD).status_code == 429
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + dt.timedelta(seconds=1)):
        assert log_in(Client(), PASSWORD).status_code == 302


def test_a_successful_login_forgets_earlier_failures(staff, settings):
    fail(Client(), settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(Client(), PASSWORD).status_code == 302
    fail(Client(), settings.AXES_FAILURE_LIMIT - 1)
    assert log_in(Client(), PASSWORD).status_code == 302
