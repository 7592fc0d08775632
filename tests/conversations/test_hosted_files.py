"""Files sent by link: stored once per company, served at an unguessable URL, gone when they expire."""

import datetime as dt

import pytest
from django.utils import timezone

from conversations.models import HostedFile
from conversations.services import hosted_files
from conversations.tasks import purge_hosted_files

PDF = b"%PDF-1.4\n1 0 obj\n<< >>\nendobj\n%%EOF\n"


@pytest.mark.django_db
def test_the_same_bytes_are_kept_once_per_company(company, other_company):
    first = hosted_files.host(company=company, content=PDF, filename="boleto-1.pdf", content_type="application/pdf")
    again = hosted_files.host(company=company, content=PDF, filename="boleto-1.pdf", content_type="application/pdf")
    theirs = hosted_files.host(
        company=other_company, content=PDF, filename="boleto-1.pdf", content_type="application/pdf"
    )
    assert first.pk == again.pk != theirs.pk and first.token != theirs.token
    assert len(first.token) >= 40


@pytest.mark.django_db
def test_served_by_its_token_and_name_only_until_it_expires(company, client):
    hosted = hosted_files.host(company=company, content=PDF, filename="boleto-1.pdf", content_type="application/pdf")
    url = hosted_files.public_url(hosted)
    path = url.split("://", 1)[1].split("/", 1)[1]
    response = client.get(f"/{path}")
    assert response.status_code == 200 and b"".join(response.streaming_content) == PDF
    assert response["Content-Disposition"].endswith('filename="boleto-1.pdf"')
    assert client.get(f"/files/{hosted.token}/other.pdf").status_code == 404
    assert client.post(f"/{path}").status_code == 405
    HostedFile.objects.filter(pk=hosted.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(f"/{path}").status_code == 404


@pytest.mark.django_db
def test_expired_files_are_purged_with_their_bytes(company):
    kept = hosted_files.host(company=company, content=b"%PDF kept", filename="a.pdf", content_type="application/pdf")
    old = hosted_files.host(company=company, content=b"%PDF old", filename="b.pdf", content_type="application/pdf")
    HostedFile.objects.filter(pk=old.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    storage, name = old.file.storage, old.file.name
    assert purge_hosted_files() == 1
    assert list(HostedFile.objects.all()) == [kept] and not storage.exists(name)
