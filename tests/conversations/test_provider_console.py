import base64
import logging

import pytest

from companies.models import Channel
from config.provider_errors import ErrorKind
from conversations.whatsapp import console
from conversations.whatsapp.base import (
    Button,
    ListRow,
    ListSection,
    Location,
    MediaRef,
    OutgoingMedia,
    SendError,
    Sent,
    TemplateCall,
    provider_for,
)
from conversations.whatsapp.console import CONSOLE_PNG, ConsoleMessage, ConsoleProvider, outbox, reset_outbox
from tests.factories import CloudChannelFactory

TO = "5544998887777"


@pytest.fixture(autouse=True)
def empty_outbox():
    reset_outbox()
    yield
    reset_outbox()


@pytest.fixture
def channel(db):
    return CloudChannelFactory(kind=Channel.Kind.CONSOLE)


def test_provider_for_a_console_channel_is_the_console_provider(channel):
    assert isinstance(provider_for(channel), ConsoleProvider)


def test_a_text_is_recorded_and_logged_instead_of_sent(channel, caplog):
    with caplog.at_level(logging.INFO, logger="conversations.console"):
        sent = ConsoleProvider(channel).send_text(to=TO, text="Olá, Maria!", reply_to="wamid.IN")

    assert sent == Sent(provider_id=f"console.{channel.pk}.1", wa_id=TO)
    assert outbox == [
        ConsoleMessage(channel.pk, TO, "text", {"text": "Olá, Maria!", "reply_to": "wamid.IN"}, sent.provider_id)
    ]
    (record,) = [r for r in caplog.records if r.name == "conversations.console"]
    assert record.levelno == logging.INFO
    assert all(part in record.getMessage() for part in (TO, "type=text", "Olá, Maria!"))


def test_ids_are_deterministic_per_channel_and_restart_after_a_reset(channel, db):
    other = CloudChannelFactory(kind=Channel.Kind.CONSOLE)
    provider = ConsoleProvider(channel)

    ids = [provider.send_text(to=TO, text=str(n)).provider_id for n in range(2)]
    ids.append(ConsoleProvider(other).send_text(to=TO, text="x").provider_id)
    reset_outbox()
    ids.append(provider.send_text(to=TO, text="again").provider_id)

    assert ids == [
        f"console.{channel.pk}.1",
        f"console.{channel.pk}.2",
        f"console.{other.pk}.1",
        f"console.{channel.pk}.1",
    ]
    assert len(outbox) == 1


def test_every_kind_of_send_is_recorded_with_its_type(channel):
    provider = ConsoleProvider(channel)
    provider.send_media(to=TO, media=OutgoingMedia(kind="document", url="https://x.example/b.pdf", filename="b.pdf"))
    provider.send_location(to=TO, location=Location(latitude=-23.42, longitude=-51.93))
    provider.send_buttons(to=TO, body="Deseja?", buttons=(Button("yes", "Sim"), Button("no", "Não")))
    provider.send_list(to=TO, body="Escolha", button="Opções", sections=(ListSection("F", (ListRow("p", "PIX"),)),))
    provider.send_template(to=TO, template=TemplateCall(name="fatura_aberta", language="pt_BR", rendered_text="Olá"))
    provider.mark_read(message_id="wamid.IN", remote=TO)

    assert [m.type for m in outbox] == ["document", "location", "buttons", "list", "template", "read"]
    assert outbox[0].payload["filename"] == "b.pdf"
    assert outbox[2].payload["buttons"] == [{"id": "yes", "title": "Sim"}, {"id": "no", "title": "Não"}]
    assert outbox[3].payload["sections"] == [{"title": "F", "rows": [{"id": "p", "title": "PIX", "description": ""}]}]
    assert outbox[4].payload["name"] == "fatura_aberta"
    assert outbox[5] == ConsoleMessage(channel.pk, TO, "read", {"message_id": "wamid.IN"})


def test_fail_with_makes_sends_fail_and_records_nothing(channel):
    ConsoleProvider.fail_with = SendError("window closed", kind=ErrorKind.WINDOW_CLOSED, code="131047")

    with pytest.raises(SendError) as excinfo:
        ConsoleProvider(channel).send_text(to=TO, text="Oi")

    assert excinfo.value.kind == ErrorKind.WINDOW_CLOSED
    assert outbox == []


def test_fail_with_can_be_set_on_one_instance_and_reset_clears_the_class_setting(channel):
    failing = ConsoleProvider(channel)
    failing.fail_with = SendError("down", kind=ErrorKind.RETRYABLE)
    with pytest.raises(SendError):
        failing.send_text(to=TO, text="Oi")
    ConsoleProvider(channel).send_text(to=TO, text="Oi")

    ConsoleProvider.fail_with = SendError("down", kind=ErrorKind.RETRYABLE)
    reset_outbox()

    assert ConsoleProvider(channel).send_text(to=TO, text="Oi").provider_id == f"console.{channel.pk}.1"


@pytest.mark.parametrize("media", [MediaRef(media_id="123"), MediaRef(url="https://x.example/a.png")])
def test_console_media_is_a_small_png(channel, media):
    fetched = ConsoleProvider(channel).fetch_media(media=media)

    assert (fetched.content, fetched.mime_type) == (CONSOLE_PNG, "image/png")
    assert fetched.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_inline_media_is_returned_as_given(channel):
    media = MediaRef(base64=base64.b64encode(b"%PDF").decode(), mime_type="application/pdf")

    assert ConsoleProvider(channel).fetch_media(media=media).content == b"%PDF"


def test_media_without_a_reference_is_refused(channel):
    with pytest.raises(SendError) as excinfo:
        ConsoleProvider(channel).fetch_media(media=MediaRef())
    assert excinfo.value.code == "no_media"


def test_the_outbox_is_the_module_list_tests_can_import(channel):
    ConsoleProvider(channel).send_text(to=TO, text="Oi")
    assert console.outbox is outbox
    assert len(console.outbox) == 1
