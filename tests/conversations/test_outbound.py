"""The one door out (``outbound.send_message``): contacts, routing, the 24 h window, templates, idempotency,
the wake-up after commit, the queued announcement, and an operator's retry and cancel."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from companies import events as company_events
from companies.models import Channel, EventDelivery
from conversations import events, tasks
from conversations.exceptions import ChannelNotUsable, CompanyInactive, InvalidRecipient, NoChannel, WindowClosed
from conversations.models import Contact, Message, MessageStatusChange
from conversations.services import outbound, statuses
from conversations.whatsapp import content as contents
from templates_meta.exceptions import TemplateNotUsable
from templates_meta.models import Template
from tests.factories import CloudChannelFactory, CompanyFactory, EvolutionChannelFactory

PHONE = "5544998887777"
RENDERED = "Olá Maria, sua fatura de R$ 99,90 vence amanhã.\n\n_Provedor X_\n\n1 - Pagar com PIX"
FILLED_COMPONENTS = [
    {"type": "body", "parameters": [{"type": "text", "text": "Maria"}, {"type": "text", "text": "R$ 99,90"}]}
]


@pytest.fixture(autouse=True)
def wakeups(monkeypatch):
    """The outbox's wake-ups as published (their options), never run: the engine has its own tests."""
    published = []
    monkeypatch.setattr(tasks.dispatch_outbox, "apply_async", lambda *args, **options: published.append(options))
    return published


received_events: list[company_events.Event] = []


def record_status_events(batch: list[company_events.Event]) -> None:
    received_events.extend(batch)


@pytest.fixture
def status_events():
    """MESSAGE_STATUS_CHANGED as a subscriber receives it (this test's only, so it is unsubscribed after)."""
    received_events.clear()
    events.MESSAGE_STATUS_CHANGED.subscribe(record_status_events)
    yield received_events
    events.MESSAGE_STATUS_CHANGED.unsubscribe(record_status_events)
    received_events.clear()


def _announcements() -> list[EventDelivery]:
    return list(EventDelivery.objects.filter(handler=company_events.handler_path(record_status_events)))


def _contact(company, phone=PHONE, *, window_open=True) -> Contact:
    last = timezone.now() - (dt.timedelta(minutes=5) if window_open else dt.timedelta(days=2))
    return Contact.objects.create(company=company, phone=phone, wa_id=phone, last_inbound_at=last)


def _console_channel(company, **kwargs) -> Channel:
    return Channel.objects.create(company=company, kind="console", name="console", **kwargs)


def _inbound(contact, channel, *, ago: dt.timedelta) -> Message:
    message = Message.objects.create(
        company=contact.company,
        channel=channel,
        contact=contact,
        direction="in",
        author="customer",
        type="text",
        text="Oi",
        status="received",
    )
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - ago)
    return message


def _template(company, waba_id, **fields) -> Template:
    defaults = {
        "waba_id": waba_id,
        "name": "fatura",
        "language": "pt_BR",
        "status": "APPROVED",
        "components": [
            {
                "type": "BODY",
                "text": "Olá {{1}}, sua fatura de {{2}} vence amanhã.",
                "example": {"body_text": [["Maria", "R$ 10"]]},
            },
            {"type": "FOOTER", "text": "Provedor X"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Pagar com PIX"}]},
        ],
    }
    return Template.objects.create(company=company, **{**defaults, **fields})


def _fatura(parameters=("Maria", "R$ 99,90")) -> dict:
    return contents.template_request("fatura", "pt_BR", list(parameters))


def _send(company, content=None, *, to=PHONE, **kwargs) -> Message:
    return outbound.send_message(company=company, to=to, content=content or contents.text("Olá"), **kwargs)


# ------------------------------------------------------------------------------ the stored message


def test_a_text_to_a_phone_number_is_stored_queued_as_given(company):
    channel = _console_channel(company)
    before = timezone.now()
    returned = _send(
        company,
        contents.text("Olá, tudo bem?"),
        to="+55 (44) 99888-7777",
        author=Message.Author.AGENT,
        purpose=Message.Purpose.REPLY,
        reference="session:40",
        idempotency_key="erp-123",
    )
    message = Message.objects.get()
    assert message.pk == returned.pk
    assert (message.company, message.channel, message.contact.phone) == (company, channel, PHONE)
    assert (message.direction, message.status, message.type) == ("out", "queued", "text")
    assert message.text == "Olá, tudo bem?"
    assert (message.author, message.purpose, message.reference, message.idempotency_key) == (
        "agent",
        "reply",
        "session:40",
        "erp-123",
    )
    assert message.data == {"content": {"kind": "text", "text": "Olá, tudo bem?", "reply_to": ""}}
    assert message.attempts == 0
    assert before <= message.next_attempt_at <= timezone.now()
    assert list(message.status_changes.values_list("status", "at", "applied")) == [("queued", message.status_at, True)]


def test_a_new_number_becomes_a_contact_that_has_never_written(company):
    _console_channel(company)
    message = _send(company, to="5521987654321")
    contact = Contact.objects.get()
    assert message.contact == contact
    assert (contact.company, contact.phone, contact.wa_id, contact.last_inbound_at) == (
        company,
        "5521987654321",
        "5521987654321",
        None,
    )


@pytest.mark.parametrize("to", ["5544998887777", "+55 44 99888-7777", "554498887777", "55 (44) 9888-7777"])
def test_every_form_of_a_number_reaches_the_one_contact_it_belongs_to(company, to):
    _console_channel(company)
    known = _contact(company)
    message = _send(company, to=to)
    assert message.contact == known
    assert Contact.objects.count() == 1


@pytest.mark.parametrize(
    ("content", "kind", "text"),
    [
        (contents.text("Olá"), "text", "Olá"),
        (contents.media("image", url="https://isp.example/a.png", caption="Seu boleto"), "image", "Seu boleto"),
        (contents.media("document", url="https://isp.example/b.pdf", filename="boleto.pdf"), "document", ""),
        (contents.location(-23.4, -51.9, name="Loja", address="Av. Brasil, 1"), "location", "Loja, Av. Brasil, 1"),
        (contents.buttons("Pagar agora?", [("pix", "PIX"), ("boleto", "Boleto")]), "interactive", "Pagar agora?"),
        (
            contents.choice_list("Escolha", "Opções", [("Financeiro", [("2via", "2ª via", "Boleto")])]),
            "interactive",
            "Escolha",
        ),
    ],
    ids=["text", "image", "document", "location", "buttons", "list"],
)
def test_every_kind_of_content_is_stored_whole_with_its_type_and_readable_text(company, content, kind, text):
    _console_channel(company)
    message = _send(company, content)
    message.refresh_from_db()
    assert (message.type, message.text) == (kind, text)
    assert message.data == {"content": content}


def test_a_long_reference_and_key_are_cut_to_their_columns(company):
    _console_channel(company)
    key = "k" * 200
    first = _send(company, reference="notice:" + "9" * 100, idempotency_key=key)
    first.refresh_from_db()
    assert (len(first.reference), first.idempotency_key) == (64, key[:128])
    assert _send(company, idempotency_key=key).pk == first.pk


# ------------------------------------------------------------------------------ refusals before anything is stored


@pytest.mark.parametrize("to", ["12", "não é telefone", ""])
def test_a_string_that_is_not_a_phone_is_an_invalid_recipient(company, to):
    _console_channel(company)
    with pytest.raises(InvalidRecipient) as excinfo:
        _send(company, to=to)
    assert excinfo.value.details == {"to": [InvalidRecipient.reason]}
    assert not Contact.objects.exists()
    assert not Message.objects.exists()


def test_a_contact_of_another_company_is_an_invalid_recipient(company, other_company):
    _console_channel(company)
    foreign = _contact(other_company)
    with pytest.raises(InvalidRecipient) as excinfo:
        _send(company, to=foreign)
    assert set(excinfo.value.details) == {"to"}
    assert not Message.objects.exists()


def test_an_inactive_company_sends_and_stores_nothing(company, status_events):
    _console_channel(company)
    company.status = "inactive"
    company.save()
    with pytest.raises(CompanyInactive):
        _send(company)
    assert not Contact.objects.exists()
    assert not Message.objects.exists()
    assert not MessageStatusChange.objects.exists()
    assert _announcements() == []


# ------------------------------------------------------------------------------ routing


def test_a_reply_goes_out_on_the_channel_the_contact_last_wrote_to(company):
    evolution = EvolutionChannelFactory(company=company, connection_state="open")  # the notice channel
    console = _console_channel(company)
    contact = _contact(company)
    _inbound(contact, evolution, ago=dt.timedelta(hours=2))
    _inbound(contact, console, ago=dt.timedelta(minutes=1))
    assert _send(company, to=contact, purpose=Message.Purpose.REPLY).channel == console
    assert _send(company, to=contact, purpose=Message.Purpose.NOTICE).channel == evolution


def test_a_reply_whose_channel_was_switched_off_goes_out_on_an_active_one(company):
    evolution = EvolutionChannelFactory(company=company, connection_state="open")
    console = _console_channel(company)
    contact = _contact(company)
    _inbound(contact, console, ago=dt.timedelta(minutes=1))
    Channel.objects.filter(pk=console.pk).update(is_active=False)
    assert _send(company, to=contact, purpose=Message.Purpose.REPLY).channel == evolution


@pytest.mark.parametrize(
    ("policy", "fallback_to_cloud", "evolution_state", "expected"),
    [
        ("prefer_evolution", True, "open", "evolution"),
        ("prefer_evolution", True, "close", "cloud"),
        ("prefer_evolution", False, "close", "evolution"),
        ("cloud_only", True, "open", "cloud"),
        ("evolution_only", True, "close", "evolution"),
    ],
    ids=[
        "evolution-when-connected",
        "cloud-when-evolution-is-down",
        "evolution-anyway-without-fallback",
        "cloud-only",
        "evolution-only",
    ],
)
def test_a_notice_follows_the_company_s_channel_policy(company, policy, fallback_to_cloud, evolution_state, expected):
    company.active_channel_policy = policy
    company.evolution_fallback_to_cloud = fallback_to_cloud
    company.save()
    channels = {
        "cloud": CloudChannelFactory(company=company),  # created first: not chosen for being first
        "evolution": EvolutionChannelFactory(company=company, connection_state=evolution_state),
    }
    assert _send(company, to=_contact(company)).channel == channels[expected]


@pytest.mark.parametrize("policy", ["prefer_evolution", "evolution_only"])
def test_a_connected_evolution_number_is_preferred_to_a_disconnected_one(company, policy):
    company.active_channel_policy = policy
    company.save()
    EvolutionChannelFactory(company=company, connection_state="close")
    connected = EvolutionChannelFactory(company=company, connection_state="open")
    assert _send(company).channel == connected


def test_a_channel_that_does_not_send_notices_is_passed_over_for_notices(company):
    EvolutionChannelFactory(company=company, connection_state="open", sends_notices=False)
    cloud = CloudChannelFactory(company=company)
    assert _send(company, to=_contact(company)).channel == cloud


@pytest.mark.parametrize(
    "setup",
    [
        lambda company: None,
        lambda company: _console_channel(company, is_active=False),
        lambda company: EvolutionChannelFactory(company=company, connection_state="open", sends_notices=False),
        lambda company: (
            setattr(company, "active_channel_policy", "cloud_only"),
            company.save(),
            EvolutionChannelFactory(company=company, connection_state="open"),
        ),
    ],
    ids=["no-channel", "only-inactive", "none-sends-notices", "cloud-only-with-only-evolution"],
)
def test_without_a_usable_channel_there_is_no_channel(company, setup):
    setup(company)
    with pytest.raises(NoChannel):
        _send(company)
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "make_channel",
    [
        lambda company: EvolutionChannelFactory(company=CompanyFactory(), connection_state="open"),
        lambda company: EvolutionChannelFactory(company=company, connection_state="open", is_active=False),
    ],
    ids=["of-another-company", "inactive"],
)
def test_a_channel_of_another_company_or_inactive_is_not_usable(company, make_channel):
    _console_channel(company)  # a usable one exists: the one given is refused, not replaced
    with pytest.raises(ChannelNotUsable) as excinfo:
        _send(company, channel=make_channel(company))
    assert excinfo.value.details == {"channel": [ChannelNotUsable.reason]}
    assert not Message.objects.exists()


# ------------------------------------------------------------------------------ the 24 h window


@pytest.mark.parametrize(
    "content",
    [
        contents.text("Olá"),
        contents.media("image", url="https://isp.example/a.png"),
        contents.location(-23.4, -51.9),
        contents.buttons("Pagar?", [("pix", "PIX")]),
        contents.choice_list("Escolha", "Opções", [("Financeiro", [("2via", "2ª via", "")])]),
    ],
    ids=["text", "media", "location", "buttons", "list"],
)
def test_free_form_to_a_cloud_contact_outside_the_window_is_refused_and_nothing_stored(company, status_events, content):
    cloud = CloudChannelFactory(company=company)
    contact = _contact(company, window_open=False)
    with pytest.raises(WindowClosed) as excinfo:
        _send(company, content, to=contact, channel=cloud)
    assert excinfo.value.details == {"contact": PHONE, "channel": cloud.pk}
    assert not Message.objects.exists()
    assert not MessageStatusChange.objects.exists()
    assert _announcements() == []


def test_a_number_that_never_wrote_gets_only_templates_on_cloud(company):
    cloud = CloudChannelFactory(company=company)
    _template(company, cloud.waba_id)
    with pytest.raises(WindowClosed):
        _send(company, to="5521987654321")
    assert _send(company, _fatura(), to="5521987654321").channel == cloud


def test_a_template_goes_to_a_cloud_contact_outside_the_window(company):
    cloud = CloudChannelFactory(company=company)
    _template(company, cloud.waba_id)
    message = _send(company, _fatura(), to=_contact(company, window_open=False), channel=cloud)
    assert (message.status, message.type) == ("queued", "template")


@pytest.mark.parametrize(
    "make_channel",
    [lambda company: EvolutionChannelFactory(company=company, connection_state="open"), _console_channel],
    ids=["evolution", "console"],
)
def test_only_the_cloud_api_has_a_window(company, make_channel):
    channel = make_channel(company)
    message = _send(company, to=_contact(company, window_open=False), channel=channel)
    assert (message.channel, message.status, message.type) == (channel, "queued", "text")


# ------------------------------------------------------------------------------ templates


def test_on_cloud_a_template_request_is_stored_as_the_components_built_from_its_values(company):
    cloud = CloudChannelFactory(company=company)
    _template(company, cloud.waba_id)
    message = _send(company, _fatura(), to=_contact(company, window_open=False))
    message.refresh_from_db()
    assert message.data["content"] == {
        "kind": "template",
        "name": "fatura",
        "language": "pt_BR",
        "components": FILLED_COMPONENTS,
        "rendered_text": RENDERED,
    }
    assert (message.type, message.text) == ("template", RENDERED)


def test_on_evolution_a_template_request_is_stored_with_its_rendered_text(company):
    evolution = EvolutionChannelFactory(company=company, connection_state="open")
    _template(company, "")
    message = _send(company, _fatura())
    message.refresh_from_db()
    assert message.channel == evolution
    assert message.data["content"]["rendered_text"] == RENDERED
    assert "parameters" not in message.data["content"]
    assert (message.type, message.text) == ("template", RENDERED)


@pytest.mark.parametrize(
    ("fields", "details"),
    [
        ({"status": "PAUSED"}, {"template": ["PAUSED"]}),
        ({"status": "PENDING"}, {"template": ["PENDING"]}),
        ({"status": "REJECTED", "rejection_reason": "INVALID_FORMAT"}, {"template": ["REJECTED"]}),
        ({"name": "outro"}, {"template": ["fatura"]}),
        ({"waba_id": "another-waba"}, {"template": ["fatura"]}),
    ],
    ids=["paused", "pending", "rejected", "missing", "of-another-waba"],
)
def test_a_template_that_is_not_approved_or_missing_is_not_usable(company, fields, details):
    cloud = CloudChannelFactory(company=company)
    _template(company, **{"waba_id": cloud.waba_id, **fields})
    with pytest.raises(TemplateNotUsable) as excinfo:
        _send(company, _fatura(), to=_contact(company))
    assert excinfo.value.details == details
    assert not Message.objects.exists()


@pytest.mark.parametrize("parameters", [[], ["Maria"], ["Maria", "R$ 99,90", "extra"]], ids=["0", "1", "3"])
def test_a_template_given_the_wrong_number_of_values_is_not_usable(company, parameters):
    cloud = CloudChannelFactory(company=company)
    _template(company, cloud.waba_id)
    with pytest.raises(TemplateNotUsable) as excinfo:
        _send(company, _fatura(parameters), to=_contact(company))
    assert excinfo.value.details == {"parameters": [f"The template's body takes 2 values; {len(parameters)} given."]}
    assert not Message.objects.exists()


# ------------------------------------------------------------------------------ idempotency


def test_the_same_idempotency_key_returns_the_first_message_and_stores_no_second(company, status_events):
    _console_channel(company)
    first = _send(company, contents.text("Boleto"), idempotency_key="erp-123")
    again = _send(company, contents.text("PIX"), to="5521987654321", idempotency_key="erp-123")
    assert again.pk == first.pk
    assert again.data == {"content": contents.text("Boleto")}
    assert Message.objects.count() == 1
    assert Contact.objects.count() == 1  # the replay did not even look at the second number
    assert MessageStatusChange.objects.count() == 1
    assert len(_announcements()) == 1


def test_the_same_key_twice_in_one_transaction_queues_one_message(company):
    _console_channel(company)
    with transaction.atomic():
        first = _send(company, idempotency_key="erp-123")
        again = _send(company, idempotency_key="erp-123")
    assert again.pk == first.pk
    assert Message.objects.count() == 1


def test_another_company_may_use_the_same_key(company, other_company):
    _console_channel(company)
    _console_channel(other_company)
    mine = _send(company, idempotency_key="erp-123")
    theirs = _send(other_company, idempotency_key="erp-123")
    assert theirs.pk != mine.pk
    assert (mine.company, theirs.company) == (company, other_company)
    assert Message.objects.filter(idempotency_key="erp-123").count() == 2


def test_a_key_queued_meanwhile_by_a_concurrent_call_returns_that_message(
    company, monkeypatch, wakeups, django_capture_on_commit_callbacks
):
    channel = _console_channel(company)
    contact = _contact(company)
    real_lookup = outbound._already_queued
    lookups = []

    def queued_meanwhile(company, idempotency_key):
        lookups.append(idempotency_key)
        if len(lookups) == 1:  # the other call inserts between this lookup and our insert
            Message.objects.create(
                company=company,
                channel=channel,
                contact=contact,
                direction="out",
                author="system",
                type="text",
                text="first",
                status="queued",
                idempotency_key=idempotency_key,
            )
            return None
        return real_lookup(company, idempotency_key)

    monkeypatch.setattr(outbound, "_already_queued", queued_meanwhile)
    with django_capture_on_commit_callbacks(execute=True):
        message = _send(company, contents.text("second"), to=contact, idempotency_key="erp-123")
    assert lookups == ["erp-123", "erp-123"]
    assert (message.text, message.idempotency_key) == ("first", "erp-123")
    assert Message.objects.get() == message
    assert not MessageStatusChange.objects.exists()  # the call that lost neither records nor wakes anything
    assert wakeups == []


# ------------------------------------------------------------------------------ after commit


def test_the_outbox_is_woken_once_the_transaction_commits(company, wakeups, django_capture_on_commit_callbacks):
    _console_channel(company)
    with django_capture_on_commit_callbacks(execute=True):
        _send(company)
        assert wakeups == []
    assert wakeups == [{"args": (), "retry": False, "countdown": None, "expires": outbound.KICK_EXPIRES_SECONDS}]


def test_nothing_is_woken_when_the_transaction_rolls_back(company, wakeups, django_capture_on_commit_callbacks):
    _console_channel(company)

    class Abandoned(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Abandoned), transaction.atomic():
        _send(company)
        raise Abandoned
    assert callbacks == []
    assert wakeups == []
    assert not Message.objects.exists()


def test_the_queued_message_is_announced_as_a_status_change(company, status_events, django_capture_on_commit_callbacks):
    _console_channel(company)
    expected = {
        "direction": "out",
        "purpose": "notice",
        "channel_kind": "console",
        "status": "queued",
        "error_code": "",
        "error_title": "",
        "pricing": None,
    }
    with django_capture_on_commit_callbacks(execute=True):
        message = _send(company)
        [row] = _announcements()
        assert (row.topic, row.company_id, row.state) == ("message_status_changed", company.pk, "pending")
        assert row.payload == {"message_id": message.pk, "at": message.status_at.isoformat(), **expected}
        assert status_events == []  # handed to the handler only once the message exists for everyone
    [event] = status_events
    assert (event.topic, event.company_id) == ("message_status_changed", company.pk)
    assert event.payload == {"message_id": message.pk, "at": message.status_at.isoformat(), **expected}
    assert _announcements() == []


# ------------------------------------------------------------------------------ retry and cancel


def _failed_or_cancelled(company, status: str) -> Message:
    message = _send(company)
    statuses.move(
        [
            statuses.Change(
                message.pk,
                status,
                timezone.now(),
                error_code="131026",
                error_title="Message undeliverable",
                from_statuses=frozenset({"queued"}),
                fields={"attempts": 3},
            )
        ]
    )
    message.refresh_from_db()
    assert (message.status, message.attempts) == (status, 3)
    return message


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_retry_moves_a_failed_or_cancelled_message_back_to_the_queue(
    company, wakeups, django_capture_on_commit_callbacks, status
):
    _console_channel(company)
    message = _failed_or_cancelled(company, status)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert outbound.retry_message(message=message) is True
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error_code, message.error_reason) == ("queued", 0, "", "")
    assert message.next_attempt_at >= before
    assert list(message.status_changes.values_list("status", flat=True)) == ["queued", status, "queued"]
    assert [w["expires"] for w in wakeups] == [outbound.KICK_EXPIRES_SECONDS]


@pytest.mark.parametrize("status", ["queued", "sending", "sent", "delivered", "read"])
def test_retry_refuses_a_message_that_neither_failed_nor_was_cancelled(
    company, wakeups, django_capture_on_commit_callbacks, status
):
    _console_channel(company)
    message = _send(company)
    Message.objects.filter(pk=message.pk).update(status=status, attempts=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert outbound.retry_message(message=message) is False
    message.refresh_from_db()
    assert (message.status, message.attempts) == (status, 1)
    assert wakeups == []


def test_cancel_takes_a_queued_message_out_of_the_queue_with_the_reason(company):
    _console_channel(company)
    message = _send(company)
    assert outbound.cancel_message(message=message) is True
    message.refresh_from_db()
    assert (message.status, message.error_reason) == ("cancelled", "cancelled by an operator")
    history = list(message.status_changes.values_list("status", "error_title"))
    assert history == [("queued", ""), ("cancelled", "cancelled by an operator")]


@pytest.mark.parametrize("status", ["sending", "sent", "delivered", "failed", "cancelled"])
def test_cancel_refuses_a_message_no_longer_queued(company, status):
    _console_channel(company)
    message = _send(company)
    Message.objects.filter(pk=message.pk).update(status=status)
    assert outbound.cancel_message(message=message) is False
    message.refresh_from_db()
    assert (message.status, message.error_reason) == (status, "")


@pytest.mark.parametrize(
    ("action", "status"),
    [
        (outbound.retry_message, "queued"),
        (outbound.retry_message, "sent"),
        (outbound.cancel_message, "sent"),
        (outbound.cancel_message, "cancelled"),
    ],
    ids=["retry-queued", "retry-sent", "cancel-sent", "cancel-cancelled"],
)
def test_a_refused_retry_or_cancel_leaves_the_history_as_it_was(company, action, status):
    _console_channel(company)
    message = _send(company)
    Message.objects.filter(pk=message.pk).update(status=status)
    assert action(message=message) is False
    assert list(message.status_changes.values_list("status", "applied")) == [("queued", True)]


# ------------------------------------------------------------------------------ the API


def test_a_template_sent_through_the_api_is_filled_by_the_door(company_client, company):
    cloud = CloudChannelFactory(company=company)
    _template(company, cloud.waba_id)
    response = company_client.post(
        "/api/v1/messages",
        {"to": PHONE, "channel": cloud.pk, "template": {"name": "fatura", "parameters": ["Maria", "R$ 99,90"]}},
        format="json",
    )
    assert response.status_code == 202, response.json()
    via_api = Message.objects.get(pk=response.json()["id"])
    direct = _send(company, _fatura(), to="5521987654321", channel=cloud)
    assert via_api.data["content"] == direct.data["content"]
    assert via_api.data["content"]["components"] == FILLED_COMPONENTS
    assert (via_api.author, via_api.purpose, via_api.status) == ("business", "notice", "queued")


# ------------------------------------------------------------------------------ what a refusal leaves behind


def test_a_reply_to_someone_who_never_wrote_follows_the_notice_policy(company):
    _console_channel(company)  # the lowest id, but not the company's notice channel under its policy
    evolution = EvolutionChannelFactory(company=company, connection_state="open")
    assert _send(company, to="5544997776666", purpose=Message.Purpose.REPLY).channel == evolution


def test_a_refused_message_leaves_no_contact_behind(company):
    CloudChannelFactory(company=company)  # a number that never wrote is outside the window on Cloud
    with pytest.raises(WindowClosed):
        outbound.send_message(company=company, to="5544997776666", content=contents.text("Olá"))
    assert not Contact.objects.filter(company=company).exists()


def test_a_message_whose_channel_was_deleted_is_not_queued_again(company):
    channel = _console_channel(company)
    message = _send(company)
    Message.objects.filter(pk=message.pk).update(status="failed")
    channel.delete()
    message.refresh_from_db()
    assert outbound.retry_message(message=message) is False
    message.refresh_from_db()
    assert message.status == "failed"
