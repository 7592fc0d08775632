"""The outbox admin page, retry/cancel actions, credential recovery, typing first, and the job lock."""

import datetime as dt
import json
import re
import threading
import time

import pytest
import responses
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from companies import joblocks, services
from companies.models import JobLock
from conversations.models import Contact, Message
from conversations.sending import dispatcher as dispatching
from conversations.sending import outbox, pacing
from conversations.services import outbound
from conversations.whatsapp import content
from tests.factories import CloudChannelFactory, EvolutionChannelFactory


@pytest.fixture(autouse=True)
def _no_kick(monkeypatch, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.REDIS_URL = ""
    monkeypatch.setattr(outbound, "kick_outbox", lambda: None)


def _queued(channel, phone="5544998887777") -> Message:
    contact = Contact.objects.create(company=channel.company, phone=phone, wa_id=phone, last_inbound_at=timezone.now())
    return outbound.send_message(company=channel.company, to=contact, channel=channel, content=content.text("x"))


@pytest.mark.django_db
def test_the_outbox_page_shows_each_channels_queue(admin_client):
    channel = CloudChannelFactory(health="auth_failed", health_reason="190: token expired")
    first, _ = _queued(channel), _queued(channel, "5544998880000")
    Message.objects.filter(pk=first.pk).update(created_at=timezone.now() - dt.timedelta(minutes=7))
    failed = _queued(channel, "5544998881111")
    Message.objects.filter(pk=failed.pk).update(status="failed", status_at=timezone.now())
    response = admin_client.get(reverse("admin:conversations_outboxchannel_changelist"))
    assert response.status_code == 200
    row = response.context["cl"].result_list[0]
    assert (row.queued_count, row.sending_count, row.failed_count) == (2, 0, 1)
    html = response.content.decode()
    assert "7\xa0minutes" in html
    assert "stopped: credentials" in html


@pytest.mark.django_db
def test_resume_action_lets_a_stopped_channel_send_again(admin_client):
    channel = CloudChannelFactory(health="auth_failed")
    admin_client.post(
        reverse("admin:conversations_outboxchannel_changelist"), {"action": "resume", "_selected_action": [channel.pk]}
    )
    channel.refresh_from_db()
    assert channel.health == "ok"


@pytest.mark.django_db
def test_new_credentials_resume_a_stopped_channel():
    channel = CloudChannelFactory(health="auth_failed", health_reason="190")
    services.update_channel(channel=channel, data={"name": "renamed"})
    channel.refresh_from_db()
    assert channel.health == "auth_failed"
    services.update_channel(channel=channel, data={"access_token": "EAAGfresh"})
    channel.refresh_from_db()
    assert channel.health == "ok"


@pytest.mark.django_db
def test_retry_and_cancel_actions(admin_client):
    channel = CloudChannelFactory()
    queued, failed = _queued(channel), _queued(channel, "5544998880000")
    Message.objects.filter(pk=failed.pk).update(status="failed")
    url = reverse("admin:conversations_message_changelist")
    admin_client.post(url, {"action": "cancel", "_selected_action": [queued.pk, failed.pk]})
    admin_client.post(url, {"action": "retry", "_selected_action": [failed.pk]})
    queued.refresh_from_db()
    failed.refresh_from_db()
    assert (queued.status, failed.status) == ("cancelled", "queued")


@pytest.mark.django_db
@responses.activate
def test_slow_evolution_channels_show_typing_before_the_message():
    channel = EvolutionChannelFactory(send_delay_ms=5000, api_base_url="https://evo.example.com")
    instance = channel.instance_name
    responses.post(f"https://evo.example.com/chat/sendPresence/{instance}", json={})
    responses.post(
        f"https://evo.example.com/message/sendText/{instance}",
        status=201,
        json={
            "key": {"remoteJid": "5544998887777@s.whatsapp.net", "fromMe": True, "id": "3EB0EVO"},
            "status": "PENDING",
        },
    )
    message = _queued(channel)
    dispatcher = dispatching.Dispatcher(in_flight=2, threads=2)
    try:
        dispatcher.run_round()
    finally:
        dispatcher.close()
    paths = [call.request.url.rsplit("/", 2)[-2] for call in responses.calls]
    assert paths == ["sendPresence", "sendText"]
    assert json.loads(responses.calls[0].request.body)["presence"] == "composing"
    message.refresh_from_db()
    assert (message.status, message.provider_id) == ("sent", "3EB0EVO")


@pytest.mark.django_db(transaction=True)
def test_a_periodic_job_never_runs_twice_at_once():
    runs, overlaps, active = [], [], []
    guard = threading.Lock()

    @joblocks.exclusive_job(lease=dt.timedelta(minutes=1), name="test-job")
    def job(worker: int) -> int:
        with guard:
            active.append(worker)
            if len(active) > 1:
                overlaps.append(tuple(active))
        time.sleep(0.2)
        with guard:
            active.remove(worker)
            runs.append(worker)
        return worker

    results = []

    def worker(number: int) -> None:
        try:
            results.append(job(number))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert len(runs) == 1
    assert sorted(r for r in results if r is not None) == runs
    assert JobLock.objects.get(name="test-job").holder == ""


@pytest.mark.django_db
def test_a_dead_holders_lease_expires():
    assert joblocks.acquire("job", holder="dead-worker", lease=dt.timedelta(minutes=5))
    assert not joblocks.acquire("job", holder="other", lease=dt.timedelta(minutes=5))
    JobLock.objects.filter(name="job").update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert joblocks.acquire("job", holder="other", lease=dt.timedelta(minutes=5))
    joblocks.release("job", holder="dead-worker")  # a stale holder cannot release the new lease
    assert JobLock.objects.get(name="job").holder == "other"


def _one_round_sends_them_all(count: int) -> None:
    """One round of a dispatcher with the default threads hands over ``count`` messages, Evolution accepts each."""
    accepted = {"key": {"remoteJid": "5544998887777@s.whatsapp.net", "fromMe": True, "id": "3EB0EVO"}}
    responses.post(re.compile(r"https://evo\.example\.com/message/sendText/.*"), status=201, json=accepted)
    dispatcher = dispatching.Dispatcher()
    try:
        assert dispatcher.run_round() == count
    finally:
        dispatcher.close()
    assert Message.objects.filter(status="sent").count() == count
    assert len([call for call in responses.calls if "/message/sendText/" in call.request.url]) == count


@pytest.mark.django_db
@responses.activate
def test_evolution_numbers_typing_at_once_do_not_wait_for_each_others_threads(monkeypatch):
    # Evolution answers a "typing…" only when it ends: each send holds a thread meanwhile. 40 numbers with a
    # message due type at the same time: each "typing…" ends only once all 40 have begun.
    monkeypatch.setattr(pacing, "LATE_SECONDS", 30.0)  # when each begins is not what this is about
    all_typing = threading.Barrier(40, timeout=20)

    def presence(request):
        all_typing.wait()
        return 201, {}, "{}"

    responses.add_callback(responses.POST, re.compile(r"https://evo\.example\.com/chat/sendPresence/.*"), presence)
    for _ in range(40):
        _queued(EvolutionChannelFactory(send_delay_ms=5000))
    _one_round_sends_them_all(40)


@pytest.mark.django_db
@responses.activate
def test_each_channels_sends_are_handed_over_as_soon_as_it_is_claimed(monkeypatch):
    # Claims that take 50 ms each (a busy database): handed over only with the whole round, the first
    # channels' slots (20 ms after their claim) had passed, and numbers paced 1.5 s apart have no other slot.
    real_claim = outbox.claim

    def slow_claim(channel, limit):
        time.sleep(0.05)
        return real_claim(channel, limit)

    monkeypatch.setattr(outbox, "claim", slow_claim)
    for _ in range(5):
        _queued(EvolutionChannelFactory(send_delay_ms=1500))
    _one_round_sends_them_all(5)
