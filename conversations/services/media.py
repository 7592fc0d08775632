"""Attachments: downloaded by a task, checked by content, stored or quarantined, never forwarded unchecked."""

import datetime as dt
import logging

from django.core.files.base import ContentFile
from django.utils import timezone

from config import queues
from conversations.media_safety import inspect_media
from conversations.models import Message
from conversations.whatsapp.base import MediaRef, SendError, provider_for

logger = logging.getLogger(__name__)


DOWNLOAD_TASK = "conversations.tasks.download_media"


class RetryableMediaError(Exception):
    """The download failed in a way that trying again later can fix."""


def _media_ref(message: Message) -> MediaRef:
    stored = message.media or {}
    inline = ""
    if stored.get("inline"):
        inline = str((message.raw.get("message") or {}).get("base64", ""))
    return MediaRef(
        media_id=stored.get("media_id", ""),
        url=stored.get("url", ""),
        mime_type=stored.get("mime_type", ""),
        sha256=stored.get("sha256", ""),
        filename=stored.get("filename", ""),
        size=stored.get("size"),
        base64=inline,
    )


def download_and_inspect(*, message_id: int) -> Message | None:
    """Fetch the message's attachment, inspect its bytes and store it, or quarantine it; idempotent."""
    message = Message.objects.select_related("channel").filter(pk=message_id).first()
    if message is None or message.media_status != Message.MediaStatus.PENDING or message.channel is None:
        return message
    ref = _media_ref(message)
    try:
        fetched = provider_for(message.channel).fetch_media(media=ref)
    except SendError as exc:
        if exc.retryable:
            raise RetryableMediaError(str(exc)) from exc
        _finish(message, status=Message.MediaStatus.FAILED, rejection=f"download: {exc.code or exc.kind}"[:40])
        return message
    verdict = inspect_media(
        fetched.content, message_type=message.type, declared_mime=ref.mime_type, filename=ref.filename
    )
    message.media_mime, message.media_size, message.media_sha256 = (
        verdict.detected_mime[:100],
        verdict.size,
        verdict.sha256,
    )
    if not verdict.allowed:
        logger.warning(
            "Quarantined %s attachment of message %s: %s (%s)", message.type, message.pk, verdict.reason, verdict.detail
        )
        # The bytes are not kept: nothing can forward or open them later.
        _finish(message, status=Message.MediaStatus.QUARANTINED, rejection=verdict.reason)
        return message
    name = f"{message.company_id}/{verdict.sha256[:2]}/{verdict.sha256}.{verdict.extension or 'bin'}"
    message.media_file.save(name, ContentFile(fetched.content), save=False)
    _finish(message, status=Message.MediaStatus.STORED, rejection="")
    return message


def give_up(*, message_id: int, reason: str) -> None:
    """A download that kept failing in ways a retry could fix: the attachment is recorded as not downloaded."""
    message = Message.objects.filter(pk=message_id, media_status=Message.MediaStatus.PENDING).first()
    if message is not None:
        _finish(message, status=Message.MediaStatus.FAILED, rejection=f"download: {reason}"[:40])


def requeue_stale(*, older_than: dt.timedelta) -> int:
    """Publish the download of attachments still pending long after their message came (a publish that found
    the broker down); returns how many."""
    stale = Message.objects.filter(
        media_status=Message.MediaStatus.PENDING, created_at__lt=timezone.now() - older_than
    ).order_by("pk")
    ids = list(stale.values_list("pk", flat=True)[:500])
    for message_id in ids:
        queues.publish(DOWNLOAD_TASK, message_id)
    return len(ids)


def _finish(message: Message, *, status: str, rejection: str) -> None:
    message.media_status, message.media_rejection = status, rejection
    # Inline bytes (Evolution base64) leave the payload once judged: stored as a file, or dropped.
    if isinstance(message.raw.get("message"), dict):
        message.raw["message"].pop("base64", None)
    message.save(
        update_fields=[
            "raw",
            "media_status",
            "media_rejection",
            "media_file",
            "media_mime",
            "media_size",
            "media_sha256",
            "updated_at",
        ]
    )
