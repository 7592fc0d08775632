"""The live dashboard's WebSocket, through the project's ASGI application with a session cookie: who gets in,
and the pushes each socket receives after Meta's billable receipts are handled."""

from collections.abc import Awaitable, Callable

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from billing import consumers
from config.asgi import application
from tests.billing.conftest import receive
from tests.billing.dashboard.conftest import (
    PASSWORD,
    SERVICE_PRICE,
    delivered_webhook,
    post_delivered,
    sent_template,
    session_cookie,
)

# Committed like a server's: the consumer's database calls run on the test's thread (thread-sensitive) and
# channels closes that thread's connection around each, which a test's open transaction would not survive.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("seeded_rate_card")]
SPENT = f"{SERVICE_PRICE:.6f}"


@pytest.fixture
def pushes_only(monkeypatch):
    """No figures read by the consumer itself: whatever arrives after connecting was pushed."""
    monkeypatch.setattr(consumers.SpendDashboardConsumer, "poll_seconds", None)


def socket(user=None, company=None) -> WebsocketCommunicator:
    """The page's socket: its session cookie (if logged in) and Origin, as the browser sends them (built outside
    the scenario's event loop, since logging in writes the session)."""
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if user is not None:
        headers.append((b"cookie", f"sessionid={session_cookie(user)}".encode()))
    query = f"?company={company.contract}" if company is not None else ""
    return WebsocketCommunicator(application, f"/ws/dashboard/spend/{query}", headers=headers)


async def closed_with(communicator: WebsocketCommunicator) -> int:
    connected, _ = await communicator.connect()
    assert connected  # accepted so that the page reads the code below
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close"
    await communicator.wait()
    return message["code"]


async def opened(communicator: WebsocketCommunicator) -> dict:
    """Connects and returns the figures the socket sends first."""
    connected, _ = await communicator.connect()
    assert connected
    return await communicator.receive_json_from(timeout=5)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    async_to_sync(scenario)()


def spent_today(figures: dict) -> list[tuple[str, int, str]]:
    return [(f["key"], f["count"], f["spent"]) for f in figures["today_by_category"]]


def test_anonymous_is_closed_with_log_in_again(db):
    communicator = socket()

    async def scenario():
        assert await closed_with(communicator) == consumers.NOT_LOGGED_IN

    run(scenario)


def test_a_login_of_no_company_is_closed_as_forbidden(db):
    communicator = socket(get_user_model().objects.create_user("nobody", password=PASSWORD))

    async def scenario():
        assert await closed_with(communicator) == 4403

    run(scenario)


def test_an_agent_naming_another_company_is_closed_as_forbidden(agent_a, cloud_b):
    communicator = socket(agent_a.user, cloud_b.company)

    async def scenario():
        assert await closed_with(communicator) == 4403

    run(scenario)


def test_platform_staff_must_name_a_company(platform_staff):
    communicator = socket(platform_staff)

    async def scenario():
        assert await closed_with(communicator) == consumers.COMPANY_REQUIRED

    run(scenario)


def test_a_foreign_origin_is_refused_at_the_handshake(agent_a):
    communicator = WebsocketCommunicator(
        application,
        "/ws/dashboard/spend/",
        headers=[
            (b"origin", b"https://evil.example"),
            (b"cookie", f"sessionid={session_cookie(agent_a.user)}".encode()),
        ],
    )

    async def scenario():
        connected, _ = await communicator.connect()
        assert not connected

    run(scenario)


def test_the_socket_sends_the_figures_as_of_now_on_connecting(agent_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        post_delivered(sent_template(agent_a.company.channels.get(), template="fatura_alpha"))
    communicator = socket(agent_a.user)

    async def scenario():
        figures = await opened(communicator)
        assert figures["company_id"] == agent_a.company_id
        assert spent_today(figures) == [("service", 1, SPENT)]
        assert figures["last_billable"][0]["recipient"] == "+55 44 9****-0001"
        await communicator.disconnect()

    run(scenario)


def test_a_billable_webhook_pushes_the_new_figures_to_its_company_only(
    agent_a, agent_b, cloud_a, cloud_b, pushes_only, django_capture_on_commit_callbacks
):
    message_a = sent_template(cloud_a, template="fatura_alpha")
    message_b = sent_template(cloud_b, phone="5521988887777", template="fatura_beta")

    def meta_reports(message):
        with django_capture_on_commit_callbacks(execute=True):
            post_delivered(message)

    of_a, of_b = socket(agent_a.user), socket(agent_b.user)

    async def scenario():
        assert spent_today(await opened(of_a)) == []
        assert spent_today(await opened(of_b)) == []

        await sync_to_async(meta_reports)(message_a)
        pushed = await of_a.receive_json_from(timeout=1)  # the budget the dashboard promises
        assert pushed["company_id"] == cloud_a.company_id
        assert spent_today(pushed) == [("service", 1, SPENT)]
        assert [(e["template"], e["recipient"]) for e in pushed["last_billable"]] == [
            ("fatura_alpha", "+55 44 9****-0001")
        ]
        assert await of_b.receive_nothing(timeout=0.3)

        await sync_to_async(meta_reports)(message_b)
        pushed = await of_b.receive_json_from(timeout=1)
        assert [(e["template"], e["recipient"]) for e in pushed["last_billable"]] == [
            ("fatura_beta", "+55 21 9****-7777")
        ]
        assert await of_a.receive_nothing(timeout=0.3)
        await of_a.disconnect()
        await of_b.disconnect()

    run(scenario)


def test_platform_staff_receive_the_pushes_of_the_company_they_name(
    platform_staff, cloud_a, cloud_b, pushes_only, django_capture_on_commit_callbacks
):
    message_a, message_b = sent_template(cloud_a), sent_template(cloud_b)

    def meta_reports(message):
        with django_capture_on_commit_callbacks(execute=True):
            post_delivered(message)

    communicator = socket(platform_staff, cloud_b.company)

    async def scenario():
        assert (await opened(communicator))["company_id"] == cloud_b.company_id
        await sync_to_async(meta_reports)(message_a)
        assert await communicator.receive_nothing(timeout=0.3)
        await sync_to_async(meta_reports)(message_b)
        assert spent_today(await communicator.receive_json_from(timeout=1)) == [("service", 1, SPENT)]
        await communicator.disconnect()

    run(scenario)


def test_a_duplicate_receipt_pushes_nothing_new(agent_a, cloud_a, pushes_only, django_capture_on_commit_callbacks):
    message = sent_template(cloud_a)

    def meta_reports():
        with django_capture_on_commit_callbacks(execute=True):
            post_delivered(message)

    communicator = socket(agent_a.user)

    async def scenario():
        await opened(communicator)
        await sync_to_async(meta_reports)()
        await communicator.receive_json_from(timeout=1)
        await sync_to_async(meta_reports)()  # Meta retries its webhook: no new entry, nothing to redraw
        assert await communicator.receive_nothing(timeout=0.3)
        await communicator.disconnect()

    run(scenario)


def test_with_the_in_memory_layer_a_change_handled_in_another_process_is_read_within_a_second(
    settings, agent_a, cloud_a, monkeypatch
):
    """The event workers are other processes, whose pushes the in-memory layer cannot carry here."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    monkeypatch.setattr(consumers.SpendDashboardConsumer, "poll_seconds", 0.2)
    message = sent_template(cloud_a)

    def handled_elsewhere():
        # The receipt handled with no commit callbacks run (the test's transaction never commits): no push.
        receive(delivered_webhook(message), message)

    communicator = socket(agent_a.user)

    async def scenario():
        assert spent_today(await opened(communicator)) == []
        await sync_to_async(handled_elsewhere)()
        assert spent_today(await communicator.receive_json_from(timeout=1)) == [("service", 1, SPENT)]
        assert await communicator.receive_nothing(timeout=0.5)  # read again, unchanged: not sent again
        await communicator.disconnect()

    run(scenario)
