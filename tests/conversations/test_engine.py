"""The sending engine: outbox claims, error handling, window rules, fairness, pacing, recovery."""

import datetime as dt
import itertools
import os
import secrets
import threading
import time

import pytest
from django.db import connection
from django.utils import timezone

from companies.services import save_channel
from conversations.exceptions import WindowClosed
from conversations.models import Contact, Message, MessageStatusChange
from conversations.sending import dispatcher as dispatching
from conversations.sending import outbox, outcomes, pacing
from conversations.services import outbound
from conversations.whatsapp import console, content
from fakes.graph_api import running_graph_api
from tests.conftest import META_API_FIXTURES
from tests.factories import CloudChannelFactory, CompanyFactory, EvolutionChannelFactory


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path  # file-based pacing state per test
    settings.REDIS_URL = ""
    console.reset_outbox()
    # Queuing and sending are exercised separately here: no dispatcher runs on commit.
    monkeypatch.setattr(outbound, "kick_outbox", lambda: None)
    yield
    console.reset_outbox()


@pytest.fixture
def dispatcher():
    instance = dispatching.Dispatcher(in_flight=4)
    yield instance
    instance.close()


@pytest.fixture
def graph():
    with running_graph_api(errors=META_API_FIXTURES) as server:
        yield server


def _contact(company, phone="5544998887777", *, window_open=True) -> Contact:
    last = timezone.now() - (dt.timedelta(minutes=5) if window_open else dt.timedelta(days=2))
    return Contact.objects.create(company=company, phone=phone, wa_id=phone, last_inbound_at=last)


def _console_channel(company=None, **kwargs):
    from companies.models import Channel

    company = company or CompanyFactory()
    return Channel.objects.create(company=company, kind="console", name="console", **kwargs)


def _queue(channel, contact, body="Olá", **kwargs) -> Message:
    return outbound.send_message(
        company=channel.company, to=contact, channel=channel, content=content.text(body), **kwargs
    )


@pytest.mark.django_db
def test_a_queued_message_is_sent_once_with_its_history(dispatcher):
    channel = _console_channel()
    message = _queue(channel, _contact(channel.company))
    assert message.status == "queued"
    assert dispatcher.run(budget_seconds=5) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("sent", 1)
    assert message.provider_id == console.outbox[0].provider_id
    assert list(message.status_changes.values_list("status", flat=True)) == ["queued", "sent"]
    assert dispatcher.run(budget_seconds=1) == 0
    assert len(console.outbox) == 1


@pytest.mark.django_db
def test_cloud_send_posts_to_the_graph_api_and_records_the_wamid(dispatcher, graph):
    channel = CloudChannelFactory(api_base_url=graph.url)
    message = _queue(channel, _contact(channel.company), body="Sua fatura vence amanhã")
    dispatcher.run(budget_seconds=5)
    message.refresh_from_db()
    [request] = graph.requests
    assert request.path == f"/{channel.api_version}/{channel.phone_number_id}/messages"
    assert request.authorization == f"Bearer {channel.access_token}"
    assert request.body["text"]["body"] == "Sua fatura vence amanhã"
    assert request.body["to"] == "5544998887777"
    assert message.status == "sent"
    assert message.provider_id == request.wamid


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fixture", "status", "code", "requeued"),
    [
        ("error_130429_throughput", "queued", "130429", True),
        ("error_131056_pair_rate_limit", "queued", "131056", True),
        ("error_131000_generic", "queued", "131000", True),
        ("error_131026_undeliverable", "failed", "131026", False),
        ("error_131047_reengagement", "failed", "131047", False),
        ("error_132001_template_missing", "failed", "132001", False),
        ("error_132000_param_count", "failed", "132000", False),
        ("error_132015_template_paused", "failed", "132015", False),
        ("error_100_invalid_parameter", "failed", "100", False),
    ],
)
def test_provider_errors_retry_or_fail_at_once(dispatcher, graph, fixture, status, code, requeued):
    channel = CloudChannelFactory(api_base_url=graph.url)
    graph.fail_next(1, fixture)
    message = _queue(channel, _contact(channel.company))
    before = timezone.now()
    dispatcher.run_round()
    message.refresh_from_db()
    assert message.status == status
    assert message.error_code == code
    assert message.attempts == 1
    if requeued:
        assert message.next_attempt_at > before
    else:
        assert message.status_changes.filter(status="failed").exists()


@pytest.mark.django_db
def test_window_closed_from_meta_is_our_window_closed_reason(dispatcher, graph):
    channel = CloudChannelFactory(api_base_url=graph.url)
    graph.fail_next(1, "error_131047_reengagement")
    message = _queue(channel, _contact(channel.company))
    dispatcher.run_round()
    message.refresh_from_db()
    assert message.error_reason.startswith("window_closed")


@pytest.mark.django_db
def test_retryable_failures_give_up_after_the_limit(dispatcher, graph):
    channel = CloudChannelFactory(api_base_url=graph.url)
    graph.fail_next(outcomes.MAX_ATTEMPTS + 1, "error_131000_generic")
    message = _queue(channel, _contact(channel.company))
    for _ in range(outcomes.MAX_ATTEMPTS):
        Message.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
        dispatcher.run_round()
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("failed", outcomes.MAX_ATTEMPTS)
    assert len(graph.requests) == outcomes.MAX_ATTEMPTS


@pytest.mark.django_db
def test_an_expired_token_stops_the_channel_not_the_queue(dispatcher, graph):
    channel = CloudChannelFactory(api_base_url=graph.url)
    graph.fail_next(10, "error_190_token_expired")
    contact = _contact(channel.company)
    first, second = _queue(channel, contact), _queue(channel, _contact(channel.company, "5544998880000"))
    dispatcher.run(budget_seconds=2)
    channel.refresh_from_db()
    assert channel.health == "auth_failed"
    assert "190" in channel.health_reason
    assert len(graph.requests) == 2  # one round; nothing after the channel stopped
    for message in (first, second):
        message.refresh_from_db()
        assert (message.status, message.attempts) == ("queued", 0)
    assert dispatcher.run(budget_seconds=1) == 0


@pytest.mark.django_db
def test_a_new_token_saved_while_the_dispatcher_runs_is_the_one_it_sends_with(dispatcher, graph):
    channel = CloudChannelFactory(api_base_url=graph.url, access_token="EAAG-expired")
    graph.fail_next(1, "error_190_token_expired")
    message = _queue(channel, _contact(channel.company))
    dispatcher.run(budget_seconds=2)
    channel.refresh_from_db()
    assert channel.health == "auth_failed"

    channel.access_token = "EAAG-renewed"
    save_channel(channel=channel, changed={"access_token"})  # as the admin and the API do: healthy again
    assert dispatcher.run(budget_seconds=2) == 1  # the same dispatcher, its channel and sessions read before
    message.refresh_from_db()
    assert message.status == "sent"
    assert [request.authorization for request in graph.requests] == ["Bearer EAAG-expired", "Bearer EAAG-renewed"]


@pytest.mark.django_db
def test_a_channel_is_read_again_only_once_it_was_saved(django_assert_num_queries):
    channel = _console_channel()
    _queue(channel, _contact(channel.company))
    known: dict = {}
    [first] = outbox.due_channels(known)
    with django_assert_num_queries(1):  # which channels are due; the channel itself comes from ``known``
        [same] = outbox.due_channels(known)
    assert same is first
    channel.company.name = "Renamed ISP"
    channel.company.save()
    [again] = outbox.due_channels(known)
    assert again is not first and again.company.name == "Renamed ISP"
    channel.throughput_mps = 500
    channel.save()
    assert outbox.due_channels(known)[0].throughput_mps == 500


@pytest.mark.django_db
def test_the_api_refuses_free_form_outside_the_window_but_templates_go(dispatcher):
    channel = CloudChannelFactory()
    contact = _contact(channel.company, window_open=False)
    with pytest.raises(WindowClosed):
        _queue(channel, contact)
    template = outbound.send_message(
        company=channel.company, to=contact, channel=channel, content=content.template("fatura", "pt_BR")
    )
    assert template.status == "queued"


@pytest.mark.django_db
def test_a_window_that_closes_while_queued_fails_without_calling_meta(dispatcher, graph):
    channel = CloudChannelFactory(api_base_url=graph.url)
    contact = _contact(channel.company)
    message = _queue(channel, contact)
    Contact.objects.filter(pk=contact.pk).update(last_inbound_at=timezone.now() - dt.timedelta(hours=25))
    dispatcher.run_round()
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "window_closed")
    assert graph.requests == []


@pytest.mark.django_db
def test_evolution_channels_have_no_window(dispatcher):
    channel = EvolutionChannelFactory()
    message = _queue(channel, _contact(channel.company, window_open=False))
    assert message.status == "queued"


@pytest.mark.django_db
def test_one_companys_backlog_does_not_hold_another_company(dispatcher):
    busy = _console_channel(throughput_mps=50)
    quiet = _console_channel()
    for i in range(200):
        _queue(busy, _contact(busy.company, f"55449990{i:05d}"), body=f"a{i}")
    lone = _queue(quiet, _contact(quiet.company))
    dispatcher.run_round()
    lone.refresh_from_db()
    assert lone.status == "sent"  # in the very first round
    assert Message.objects.filter(channel=busy, status="queued").count() > 150


@pytest.mark.django_db
def test_a_round_hands_over_no_more_sends_than_its_in_flight_bound_shared_evenly(dispatcher):
    # The dispatcher holds at most 4 sends at once: 4 sends, 2 per channel, and every claimed message is
    # sent (none left "sending").
    first, second = _console_channel(), _console_channel()
    for channel, prefix in ((first, "55449992"), (second, "55449993")):
        for i in range(10):
            _queue(channel, _contact(channel.company, f"{prefix}{i:05d}"))
    assert dispatcher.run_round() == 4
    sent = Message.objects.filter(status="sent")
    assert sent.filter(channel=first).count() == sent.filter(channel=second).count() == 2
    assert not Message.objects.filter(status="sending").exists()
    assert Message.objects.filter(status="queued").count() == 16


@pytest.mark.django_db
def test_a_paced_out_channel_is_not_claimed_at_all(dispatcher):
    channel = _console_channel(throughput_mps=10)
    message = _queue(channel, _contact(channel.company))
    while pacing.reserve(channel, 100):  # other sends hold every slot of the next pacing horizon
        pass
    assert pacing.seconds_until_room(channel) > 0
    assert dispatcher.run_round() == 0
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 0)


@pytest.mark.django_db
def test_a_paced_out_dispatcher_waits_only_until_its_channel_has_room_again(dispatcher, monkeypatch):
    channel = _console_channel()
    message = _queue(channel, _contact(channel.company))
    room_in = iter([0.03])  # another worker holds the next slots: room again in 30 ms, then at once
    monkeypatch.setattr(pacing, "seconds_until_room", lambda channel: next(room_in, 0.0))
    pauses: list[float] = []
    monkeypatch.setattr(dispatching.time, "sleep", pauses.append)
    dispatcher.run(budget_seconds=5)
    message.refresh_from_db()
    assert message.status == "sent"
    # Not a fixed idle wait (a whole pacing horizon, in which the other worker's slots ran out unused).
    assert pauses[0] == 0.03


@pytest.mark.parametrize("store", ["file", "redis"])
def test_seconds_until_room_is_how_far_the_schedule_runs_past_the_horizon(store, settings):
    if store == "redis":
        if not os.environ.get("REDIS_URL"):
            pytest.skip("Redis pacing runs where REDIS_URL is set (CI's first pass)")
        settings.REDIS_URL = os.environ["REDIS_URL"]
    channel = CloudChannelFactory.build(pk=secrets.randbelow(10**9) + 10**9, throughput_mps=4)
    assert pacing.seconds_until_room(channel) == 0  # a channel never paced has room now
    slots = pacing.reserve(channel, 1)
    assert pacing.reserve(channel, 1) == []  # the next slot, one interval on, lies past the horizon
    wait = pacing.seconds_until_room(channel)
    expected = slots[0] + pacing.interval_seconds(channel) - time.time() - pacing.HORIZON_SECONDS
    assert wait == pytest.approx(expected, abs=0.01)
    assert wait > 0


def test_slots_from_redis_are_moved_into_our_clock_by_the_least_delay_seen(monkeypatch):
    clock = pacing._RedisClock(keep=3)
    now = [1000.0]
    monkeypatch.setattr(pacing.time, "time", lambda: now[0])

    def answer(delay: float) -> str:  # Redis's TIME (2 s behind ours), read ``delay`` after Redis took it
        return str((now[0] - 2 - delay) * 1000)

    assert clock.offset(answer(0.001)) == pytest.approx(2.001)
    now[0] += 1
    assert clock.offset(answer(0.040)) == pytest.approx(2.001)  # a stalled process: its delay is not taken
    now[0] += 1
    assert clock.offset(answer(0.002)) == pytest.approx(2.001)
    now[0] += 1
    assert clock.offset(answer(0.003)) == pytest.approx(2.002)  # the oldest sample has gone: the best of the rest


@pytest.mark.django_db
def test_a_tick_counts_the_rounds_own_time(dispatcher, monkeypatch):
    channel = _console_channel(throughput_mps=1000)
    for i in range(6):
        _queue(channel, _contact(channel.company, f"55449997{i:05d}"))
    # Every look at the dispatcher's clock: half a second of claiming and writing. Only the dispatcher's own
    # thread: the send loop and the database pool's timer thread keep the real clock and their real sleeps.
    dispatcher_thread, real_monotonic, real_sleep = threading.get_ident(), time.monotonic, time.sleep
    clock = itertools.count(step=0.5)
    pauses: list[float] = []

    def mine() -> bool:
        return threading.get_ident() == dispatcher_thread

    monkeypatch.setattr(dispatching.time, "monotonic", lambda: next(clock) if mine() else real_monotonic())
    monkeypatch.setattr(dispatching.time, "sleep", lambda s: pauses.append(s) if mine() else real_sleep(s))

    async def on_time(slot, channel):
        return True

    monkeypatch.setattr(dispatching, "wait_for_slot", on_time)
    # Never sleeping, the dispatcher spins while its sends are out: a budget it cannot use up before they end.
    dispatcher.run(budget_seconds=10**7)
    assert Message.objects.filter(status="sent").count() == 6
    # A round that took longer than a tick is followed by the next one at once, not by a whole tick more.
    assert pauses and set(pauses) == {0.0}


@pytest.mark.django_db
def test_sends_that_all_end_during_a_tick_with_no_room_do_not_end_the_run(dispatcher, monkeypatch):
    channel = _console_channel(throughput_mps=1000)
    for i in range(6):
        _queue(channel, _contact(channel.company, f"55449996{i:05d}"))
    release, handed = threading.Event(), []
    real_send, real_start = content.send, dispatcher._start_round

    def held_send(provider, **kwargs):
        release.wait(5)
        return real_send(provider, **kwargs)

    def start_round(room):
        if room == 0:  # every send is out (4 of 4): they all end now, while this tick finds no room
            release.set()
            for future in handed:
                future.result()
        started = real_start(room)
        handed.extend(started.futures)
        return started

    monkeypatch.setattr(content, "send", held_send)
    monkeypatch.setattr(dispatcher, "_start_round", start_round)
    assert dispatcher.run(budget_seconds=5) == 6
    assert Message.objects.filter(status="sent").count() == 6


@pytest.mark.django_db
def test_a_slow_channel_claims_only_what_one_reservation_can_pace(dispatcher, monkeypatch):
    channel = _console_channel(throughput_mps=1)  # one slot a second: one per pacing horizon
    for i in range(5):
        _queue(channel, _contact(channel.company, f"55449995{i:05d}"))
    given_back = []
    monkeypatch.setattr(outbox, "unqueue", given_back.extend)
    assert pacing.most_per_reservation(channel) == 1
    assert dispatcher.run_round() == 1
    assert given_back == []  # nothing claimed only to be put back
    assert Message.objects.filter(status="queued").count() == 4


@pytest.mark.django_db
def test_claimed_messages_without_a_slot_go_back_to_the_queue_untouched(dispatcher, monkeypatch):
    channel = _console_channel()
    for i in range(3):
        _queue(channel, _contact(channel.company, f"55449994{i:05d}"))
    real_reserve = pacing.reserve
    # Another worker took the channel's slots between this worker's claim and its reservation.
    monkeypatch.setattr(pacing, "reserve", lambda channel, wanted: real_reserve(channel, min(wanted, 1)))
    assert dispatcher.run_round() == 1
    assert Message.objects.filter(status="sent").count() == 1
    assert list(Message.objects.filter(status="queued").values_list("attempts", flat=True)) == [0, 0]
    assert not Message.objects.filter(status="sending").exists()


@pytest.mark.django_db
def test_a_send_whose_slot_passed_waits_for_a_later_slot_without_going_back_to_the_queue(dispatcher, monkeypatch):
    channel = _console_channel()
    messages = [_queue(channel, _contact(channel.company, f"55449993{i:05d}")) for i in range(3)]
    late_once = {messages[1].pk}
    real_send_at = dispatching.Dispatcher._send_at

    async def send_at(self, slot, channel, message):
        if message.pk in late_once:  # a busy worker woke this one too late: no call to the provider
            late_once.discard(message.pk)
            return dispatching.Outcome(message, missed_slot=True)
        return await real_send_at(self, slot, channel, message)

    given_back = []
    monkeypatch.setattr(dispatching.Dispatcher, "_send_at", send_at)
    monkeypatch.setattr(outbox, "unqueue", lambda claimed: given_back.extend(claimed))
    assert dispatcher.run(budget_seconds=5) == 3
    assert Message.objects.filter(status="sent").count() == 3
    assert [m.pk for m in given_back] == []  # carried to the next round, not written back and claimed again
    late = Message.objects.get(pk=messages[1].pk)
    assert (late.attempts, list(late.status_changes.values_list("status", flat=True))) == (1, ["queued", "sent"])


@pytest.mark.django_db
def test_a_run_gives_back_what_still_waits_for_a_slot_when_it_ends(dispatcher, monkeypatch):
    channel = _console_channel()
    _queue(channel, _contact(channel.company))

    async def always_late(self, slot, channel, message):
        return dispatching.Outcome(message, missed_slot=True)

    monkeypatch.setattr(dispatching.Dispatcher, "_send_at", always_late)
    assert dispatcher.run(budget_seconds=0.5) == 0
    message = Message.objects.get()
    assert (message.status, message.attempts) == ("queued", 0)  # untouched, for the next dispatcher


@pytest.mark.django_db
def test_pacing_never_puts_more_than_the_limit_in_any_second(dispatcher):
    channel = _console_channel(throughput_mps=20)
    stamps: list[float] = []
    real_send_text = console.ConsoleProvider.send_text

    def timed_send_text(self, **kwargs):
        stamps.append(time.monotonic())
        return real_send_text(self, **kwargs)

    console.ConsoleProvider.send_text = timed_send_text
    try:
        for i in range(50):
            _queue(channel, _contact(channel.company, f"55449991{i:05d}"))
        dispatcher.run(budget_seconds=10)
    finally:
        console.ConsoleProvider.send_text = real_send_text
    assert len(stamps) == 50
    stamps.sort()
    busiest = max(sum(1 for t in stamps[i:] if t < start + 1.0) for i, start in enumerate(stamps))
    assert busiest <= 20
    assert stamps[-1] - stamps[0] >= 49 / 20 * 0.95  # paced, not bursted


@pytest.mark.django_db
def test_evolution_channels_wait_their_delay_between_messages():
    channel = EvolutionChannelFactory(send_delay_ms=300)
    first = pacing.reserve(channel, 5)
    assert len(first) == 1  # only one slot fits in the horizon at a 300 ms delay
    assert pacing.reserve(channel, 5) == []  # the next slot is 300 ms on: past the horizon
    assert pacing.take_now(channel, within=1) - first[0] >= 0.3 - 1e-6


@pytest.mark.django_db
def test_pacing_is_shared_between_concurrent_reservations():
    channel = CloudChannelFactory(throughput_mps=100)
    slots: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        got = pacing.reserve(channel, 10)
        with lock:
            slots.extend(got)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots.sort()
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= pacing.interval_seconds(channel) - 1e-6


@pytest.mark.django_db
def test_a_contacts_messages_go_out_in_order(dispatcher):
    channel = _console_channel()
    contact = _contact(channel.company)
    ids = [_queue(channel, contact, body=f"parte {i}").pk for i in range(3)]
    dispatcher.run(budget_seconds=5)
    assert [m.payload["text"] for m in console.outbox] == ["parte 0", "parte 1", "parte 2"]
    assert list(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) == ["sent"] * 3


@pytest.mark.django_db
def test_claims_never_hand_the_same_message_to_two_workers():
    channel = _console_channel()
    for i in range(40):
        _queue(channel, _contact(channel.company, f"55449992{i:05d}"))
    first = outbox.claim(channel, 25)
    second = outbox.claim(channel, 25)
    assert len(first) == 25 and len(second) == 15
    assert not {m.pk for m in first} & {m.pk for m in second}
    assert Message.objects.filter(status="sending").count() == 40


@pytest.mark.django_db
def test_a_message_left_sending_by_a_dead_worker_is_failed_not_resent(dispatcher):
    channel = _console_channel()
    message = _queue(channel, _contact(channel.company))
    outbox.claim(channel, 1)  # the worker took it, then died before recording anything
    Message.objects.filter(pk=message.pk).update(status_at=timezone.now() - dt.timedelta(minutes=11))
    assert outbox.recover_stuck() == 1
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "outcome_unknown")
    dispatcher.run(budget_seconds=1)
    assert console.outbox == []


@pytest.mark.django_db
def test_a_crashed_dispatchers_sends_are_recovered_in_batches_with_their_history(django_assert_max_num_queries):
    channel = _console_channel()
    for i in range(60):
        _queue(channel, _contact(channel.company, f"55449990{i:04d}"))
    taken = outbox.claim(channel, 60)
    Message.objects.filter(pk__in=[m.pk for m in taken[:55]]).update(status_at=timezone.now() - dt.timedelta(hours=1))
    # A few statements for the lot (the failures' events to their subscribers among them), not one per message.
    # 10: on SQLite, whose bound on a statement's variables splits the failures' event rows (one per subscriber).
    with django_assert_max_num_queries(9 if connection.vendor == "postgresql" else 10):
        assert outbox.recover_stuck() == 55
    assert Message.objects.filter(status="failed", error_code="outcome_unknown").count() == 55
    assert Message.objects.filter(status="sending").count() == 5  # still within the time a send may take
    entries = MessageStatusChange.objects.filter(status="failed", error_code="outcome_unknown")
    assert sorted(entries.values_list("message_id", flat=True)) == sorted(m.pk for m in taken[:55])
    assert outbox.recover_stuck() == 0


@pytest.mark.django_db
def test_an_inactive_company_sends_nothing(dispatcher):
    channel = _console_channel()
    _queue(channel, _contact(channel.company))
    channel.company.status = "inactive"
    channel.company.save()
    assert dispatcher.run(budget_seconds=1) == 0


@pytest.mark.django_db
def test_retry_and_cancel(dispatcher):
    channel = _console_channel()
    message = _queue(channel, _contact(channel.company))
    assert outbound.cancel_message(message=message)
    message.refresh_from_db()
    assert message.status == "cancelled"
    assert dispatcher.run(budget_seconds=1) == 0
    assert outbound.retry_message(message=message)
    dispatcher.run(budget_seconds=5)
    message.refresh_from_db()
    assert message.status == "sent"
    assert not outbound.cancel_message(message=message)  # already sent


@pytest.mark.django_db
def test_replies_go_out_on_the_channel_the_contact_wrote_to():
    company = CompanyFactory()
    CloudChannelFactory(company=company)  # the company's other channel: not the one the contact wrote to
    evolution = EvolutionChannelFactory(company=company)
    contact = _contact(company)
    Message.objects.create(
        company=company,
        channel=evolution,
        contact=contact,
        direction="in",
        author="customer",
        type="text",
        status="received",
    )
    assert outbound.reply_channel(company, contact) == evolution


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("policy", "evolution_state", "fallback", "expected"),
    [
        ("prefer_evolution", "open", True, "evolution"),
        ("prefer_evolution", "close", True, "cloud"),
        ("prefer_evolution", "close", False, "evolution"),
        ("cloud_only", "open", True, "cloud"),
        ("evolution_only", "close", True, "evolution"),
    ],
)
def test_active_notices_follow_the_company_policy(policy, evolution_state, fallback, expected):
    company = CompanyFactory(active_channel_policy=policy, evolution_fallback_to_cloud=fallback)
    CloudChannelFactory(company=company)
    EvolutionChannelFactory(company=company, connection_state=evolution_state)
    assert outbound.notice_channel(company).kind == expected
