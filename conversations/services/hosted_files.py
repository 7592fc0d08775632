"""Files we send by link: stored once per company, served at an unguessable URL until they expire."""

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from companies.models import Company
from conversations.models import HostedFile

# Long enough for a bill to be paid and its reminders to go out; a message re-sent later hosts it again.
KEEP = dt.timedelta(days=45)


def host(*, company: Company, content: bytes, filename: str, content_type: str) -> HostedFile:
    """The hosted copy of ``content`` (the existing one for the same bytes, kept ``KEEP`` from now)."""
    digest = hashlib.sha256(content).hexdigest()
    expires_at = timezone.now() + KEEP
    found = HostedFile.objects.filter(company=company, sha256=digest).first()
    if found is not None:
        HostedFile.objects.filter(pk=found.pk).update(expires_at=expires_at)
        found.expires_at = expires_at
        return found
    hosted = HostedFile(
        company=company,
        token=secrets.token_urlsafe(32),
        sha256=digest,
        filename=filename[:200],
        content_type=content_type,
        size=len(content),
        expires_at=expires_at,
    )
    hosted.file.save(f"{hosted.token}.bin", ContentFile(content), save=False)
    try:
        with transaction.atomic():
            hosted.save(force_insert=True)
    except IntegrityError:  # hosted meanwhile by a concurrent call
        hosted.file.delete(save=False)
        return HostedFile.objects.get(company=company, sha256=digest)
    return hosted


def public_url(hosted: HostedFile) -> str:
    return settings.PUBLIC_URL + reverse("hosted-file", args=[hosted.token, hosted.filename])


def purge_expired(*, now: dt.datetime | None = None) -> int:
    """Delete the files whose time is up; returns how many."""
    expired = list(HostedFile.objects.filter(expires_at__lte=now or timezone.now()))
    for hosted in expired:
        hosted.file.delete(save=False)
    HostedFile.objects.filter(pk__in=[h.pk for h in expired]).delete()
    return len(expired)
