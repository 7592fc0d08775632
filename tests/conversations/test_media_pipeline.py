"""Attachments are downloaded by a task, judged by their bytes, stored or quarantined (never forwarded)."""

import base64
import datetime as dt
import io
import json
import re
import zipfile

import pytest
import responses
from django.utils import timezone

from conversations.models import Contact, Message
from tests.conftest import load_fixture, post_evolution, post_meta
from tests.factories import CloudChannelFactory, CompanyFactory, EvolutionChannelFactory

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8ffff3f0005fe02fea7d6a4f40000000049454e44ae426082"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = b"MZ" + b"\x90\x00" * 30 + b"\x80\x00\x00\x00" + b"\x00" * 64 + b"PE\x00\x00" + b"\x00" * 200
GRAPH = "https://graph.facebook.com/v25.0"
LOOKASIDE = "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1234567890&ext=1764752400&hash=ATuXyz"


@pytest.fixture
def cloud(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    company = CompanyFactory(meta_app_secret="app-secret")
    channel = CloudChannelFactory(company=company, phone_number_id="106540352242922", waba_id="102290129340398")
    return company, channel


def _serve_cloud_media(media_id: str, content: bytes, mime: str) -> None:
    body = dict(load_fixture("meta_api/media_url.json")["body"], id=media_id, mime_type=mime)
    responses.get(re.compile(rf"{re.escape(GRAPH)}/{media_id}.*"), json=body)
    responses.get(LOOKASIDE, body=content, content_type=mime)


def _deliver_meta(client, company, name, capture, **media_overrides):
    payload = load_fixture(f"meta/{name}")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message[message["type"]].update(media_overrides)
    with capture(execute=True):
        assert post_meta(client, company, payload).status_code == 200
    return Message.objects.get(company=company)


@responses.activate
def test_an_image_is_downloaded_checked_and_stored(client, cloud, django_capture_on_commit_callbacks):
    company, _ = cloud
    _serve_cloud_media("1003383421387256", PNG, "image/jpeg")
    message = _deliver_meta(client, company, "message_image.json", django_capture_on_commit_callbacks)
    assert message.media_status == Message.MediaStatus.STORED
    assert message.media_mime == "image/png"  # from the bytes, not the declared image/jpeg
    with message.media_file.open("rb") as stored:
        assert stored.read() == PNG
    assert len(message.media_sha256) == 64
    downloads = [c.request for c in responses.calls if c.request.url.startswith("https://lookaside")]
    assert downloads[0].headers["Authorization"].startswith("Bearer ")


@responses.activate
def test_an_executable_named_jpg_is_quarantined_and_not_kept(client, cloud, django_capture_on_commit_callbacks):
    company, _ = cloud
    _serve_cloud_media("1003383421387256", EXE, "image/jpeg")
    message = _deliver_meta(client, company, "message_image.json", django_capture_on_commit_callbacks)
    assert message.media_status == Message.MediaStatus.QUARANTINED
    assert message.media_rejection == "executable"
    assert not message.media_file


@responses.activate
def test_a_pdf_with_a_wrong_extension_is_accepted_by_content(client, cloud, django_capture_on_commit_callbacks):
    company, _ = cloud
    _serve_cloud_media("622684793477189", PDF, "application/pdf")
    message = _deliver_meta(
        client, company, "message_document.json", django_capture_on_commit_callbacks, filename="receipt.jpg"
    )
    assert message.media_status == Message.MediaStatus.STORED
    assert message.media_mime == "application/pdf"
    assert message.media_file.name.endswith(".pdf")


@responses.activate
def test_an_archive_hiding_an_executable_is_quarantined(client, cloud, django_capture_on_commit_callbacks):
    company, _ = cloud
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("boleto.pdf", PDF)
        bundle.writestr("leia-me.txt", EXE)
    _serve_cloud_media("622684793477189", archive.getvalue(), "application/zip")
    message = _deliver_meta(client, company, "message_document.json", django_capture_on_commit_callbacks)
    assert message.media_status == Message.MediaStatus.QUARANTINED
    assert message.media_rejection == "archive_with_executable"


@responses.activate
def test_an_oversized_video_is_quarantined(client, cloud, django_capture_on_commit_callbacks):
    company, _ = cloud
    mp4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * (17 * 1024 * 1024)
    payload = load_fixture("meta/message_video.json")
    media_id = payload["entry"][0]["changes"][0]["value"]["messages"][0]["video"]["id"]
    _serve_cloud_media(media_id, mp4, "video/mp4")
    message = _deliver_meta(client, company, "message_video.json", django_capture_on_commit_callbacks)
    assert message.media_status == Message.MediaStatus.QUARANTINED
    assert message.media_rejection == "too_large"


@responses.activate
def test_a_failed_download_is_retried_then_recorded(client, cloud, django_capture_on_commit_callbacks):
    from celery.exceptions import Retry

    from conversations.services import media

    company, _ = cloud
    responses.get(re.compile(rf"{re.escape(GRAPH)}/1003383421387256.*"), status=503, json={"error": {"code": 2}})
    with pytest.raises(Retry):
        _deliver_meta(client, company, "message_image.json", django_capture_on_commit_callbacks)
    message = Message.objects.get(company=company)
    assert message.media_status == Message.MediaStatus.PENDING  # a later retry will try again
    responses.replace(
        responses.GET,
        re.compile(rf"{re.escape(GRAPH)}/1003383421387256.*"),
        status=400,
        json={"error": {"code": 100, "message": "Invalid media id"}},
    )
    media.download_and_inspect(message_id=message.pk)
    message.refresh_from_db()
    assert message.media_status == Message.MediaStatus.FAILED


@pytest.mark.django_db
def test_an_evolution_document_sent_inline_is_inspected(client, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = tmp_path
    company = CompanyFactory()
    EvolutionChannelFactory(
        company=company, instance_name="c0a8e5d2-5b1e-4b8e-9a51-3f1d2c4b6a70", api_key="EVO-INSTANCE-TOKEN-0001"
    )
    payload = load_fixture("evolution/messages_upsert_document_exe_disguised.json")
    payload["data"]["message"]["base64"] = base64.b64encode(EXE).decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert post_evolution(client, company, json.dumps(payload).encode()).status_code == 200
    message = Message.objects.get()
    assert message.media_status == Message.MediaStatus.QUARANTINED
    assert message.media_rejection == "executable"


@pytest.mark.django_db
def test_a_download_never_published_is_published_by_the_sweeper(monkeypatch):
    from conversations import tasks
    from conversations.services import media

    channel = CloudChannelFactory()
    contact = Contact.objects.create(company=channel.company, phone="5544998887777", wa_id="5544998887777")
    fields = {"company": channel.company, "channel": channel, "contact": contact, "direction": "in"}
    fields |= {"author": "customer", "type": "image", "status": "received", "media_status": "pending"}
    old, fresh = Message.objects.create(**fields), Message.objects.create(**fields)
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    published = []
    monkeypatch.setattr(tasks.download_media, "apply_async", lambda args, **options: published.append(*args))
    assert media.requeue_stale(older_than=dt.timedelta(minutes=15)) == 1
    assert published == [old.pk]  # the fresh one may still be in its retries' backoff
    assert fresh.media_status == "pending"


@pytest.mark.django_db
def test_a_download_that_keeps_failing_is_recorded_as_failed_after_its_last_retry(monkeypatch):
    from conversations import tasks
    from conversations.services import media

    channel = CloudChannelFactory()
    contact = Contact.objects.create(company=channel.company, phone="5544998887777", wa_id="5544998887777")
    message = Message.objects.create(
        company=channel.company,
        channel=channel,
        contact=contact,
        direction="in",
        author="customer",
        type="image",
        status="received",
        media_status="pending",
    )

    def unreachable(*, message_id):
        raise media.RetryableMediaError("timed out")

    monkeypatch.setattr(media, "download_and_inspect", unreachable)
    tasks.download_media.apply(args=[message.pk], retries=tasks.download_media.max_retries)
    message.refresh_from_db()
    assert (message.media_status, message.media_rejection) == ("failed", "download: gave up")
