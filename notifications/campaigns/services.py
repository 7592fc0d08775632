"""Campaigns: create, upload a CSV, start, pause, resume, cancel, and how far each one got.

Every change of a campaign's status is made here, under a lock of its row, which the engine takes too
(``engine.pump_campaign``): a pause or a cancel waits for the batch being handed over, then takes back
every message of the campaign still waiting in the outbox, so nothing more of it goes out.
"""

import datetime as dt
from typing import Any, BinaryIO

from django.core.files import File
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from companies.models import Channel, Company
from config import queues
from conversations.exceptions import CompanyInactive
from conversations.models import Message
from conversations.services import outbound
from notifications.campaigns import csv_files, imports
from notifications.campaigns.exceptions import (
    CampaignStateConflict,
    CampaignTemplateNotUsable,
    CsvNotUsable,
    NothingToSend,
)
from notifications.campaigns.template_fields import Fields, template_fields
from notifications.models import Campaign, CampaignRecipient, CampaignUpload
from templates_meta.models import Template

PUMP_TASK = "notifications.tasks.campaigns.run_campaigns"
MAX_MESSAGES_PER_MINUTE = 60_000  # Meta's highest throughput tier is 1,000 messages per second
Status = Campaign.Status
ACTIVE = (Status.SCHEDULED, Status.RUNNING)


def campaign_template(company: Company, name: str, language: str, channel: Channel | None = None) -> Template | None:
    """The approved template a campaign sends (on the channel's WhatsApp account when it is a Cloud channel)."""
    templates = Template.objects.filter(company=company, name=name, language=language, status=Template.Status.APPROVED)
    if channel is not None and channel.kind == Channel.Kind.CLOUD:
        templates = templates.filter(waba_id=channel.waba_id)
    return templates.order_by("pk").first()


def fields_of(campaign: Campaign) -> Fields:
    template = campaign_template(campaign.company, campaign.template_name, campaign.template_language, campaign.channel)
    if template is None:
        raise CampaignTemplateNotUsable(
            f"No approved template {campaign.template_name!r} in {campaign.template_language} for the company.",
            details={"template": [campaign.template_name]},
        )
    return template_fields(template)


def _check_fields(fields: Fields, columns: dict[str, Any], fixed: dict[str, Any]) -> None:
    problems = {}
    for name, given in (("columns", columns), ("fixed", fixed)):
        unknown = sorted(set(given) - set(fields.names))
        if unknown:
            problems[name] = [
                f"Not fields of the template: {', '.join(unknown)} (its fields: {', '.join(fields.names) or 'none'})."
            ]
        blank = sorted(key for key, value in given.items() if not str(value).strip())
        if blank:
            problems.setdefault(name, []).append(f"Blank: {', '.join(blank)}.")
    if problems:
        raise CampaignTemplateNotUsable("The template's fields do not match.", details=problems)


def check_draft(campaign: Campaign, *, file: BinaryIO | None = None) -> None:
    """What ``create_campaign`` and ``add_upload`` would refuse of an unsaved campaign and its CSV, raised now."""
    fields = fields_of(campaign)
    _check_fields(fields, campaign.columns or {}, campaign.fixed or {})
    if file is not None:
        try:
            imports.check_header(campaign, csv_files.read_header(file), fields)
        except csv_files.CsvProblem as exc:
            raise CsvNotUsable(str(exc)) from None
        finally:
            file.seek(0)


def create_campaign(
    *,
    company: Company,
    name: str,
    template_name: str,
    template_language: str = "pt_BR",
    channel: Channel | None = None,
    messages_per_minute: int = 60,
    start_at: dt.datetime | None = None,
    columns: dict[str, str] | None = None,
    fixed: dict[str, str] | None = None,
) -> Campaign:
    """A draft campaign of an approved template; raises CampaignTemplateNotUsable (422) otherwise."""
    if not company.is_active:
        raise CompanyInactive
    campaign = Campaign(
        company=company,
        name=name,
        template_name=template_name,
        template_language=template_language,
        channel=channel,
        messages_per_minute=messages_per_minute,
        start_at=start_at,
        columns={key: str(value) for key, value in (columns or {}).items()},
        fixed={key: str(value) for key, value in (fixed or {}).items()},
    )
    _check_fields(fields_of(campaign), campaign.columns, campaign.fixed)
    campaign.save()
    return campaign


def add_upload(*, campaign: Campaign, file: BinaryIO, filename: str, size: int) -> CampaignUpload:
    """Store a CSV for the campaign once its header fits the template; its rows are imported in the background.

    Raises CsvNotUsable (422) for an empty file, one without a phone column or without a column for a
    field of the template; CampaignStateConflict (409) once the campaign has started.
    """
    with transaction.atomic():  # a start waits for the file to be stored, and counts it as importing
        return _add_upload(_locked(campaign), file, filename, size)


def _add_upload(campaign: Campaign, file: BinaryIO, filename: str, size: int) -> CampaignUpload:
    if campaign.status != Status.DRAFT:
        raise CampaignStateConflict(
            "Recipients are added while the campaign is a draft.", details={"status": campaign.status}
        )
    fields = fields_of(campaign)
    try:
        header = csv_files.read_header(file)
        imports.check_header(campaign, header, fields)
    except csv_files.CsvProblem as exc:
        raise CsvNotUsable(str(exc)) from None
    upload = CampaignUpload(
        campaign=campaign,
        filename=filename[:255],
        size=size,
        encoding=header.encoding,
        delimiter=header.delimiter,
        phone_column=header.phone_column[:100],
    )
    file.seek(0)
    upload.file.save(f"campaign-{campaign.pk}.csv", File(file), save=False)
    upload.save()
    queues.publish_on_commit(imports.IMPORT_TASK, upload.pk)
    return upload


def _locked(campaign: Campaign) -> Campaign:
    return Campaign.objects.select_for_update(of=("self",)).select_related("company", "channel").get(pk=campaign.pk)


def _refuse(campaign: Campaign, action: str) -> CampaignStateConflict:
    return CampaignStateConflict(
        f"A {campaign.get_status_display().lower()} campaign cannot be {action}.", details={"status": campaign.status}
    )


def _wake_engine() -> None:
    queues.publish_on_commit(PUMP_TASK)


def _begin(campaign: Campaign, now: dt.datetime) -> None:
    campaign.status = Status.SCHEDULED if campaign.start_at and campaign.start_at > now else Status.RUNNING
    campaign.credit, campaign.pumped_at, campaign.paused_reason = 0.0, now, ""
    if campaign.status == Status.RUNNING and campaign.started_at is None:
        campaign.started_at = now
    campaign.save(update_fields=["status", "credit", "pumped_at", "paused_reason", "started_at", "updated_at"])
    _wake_engine()


@transaction.atomic
def start_campaign(campaign: Campaign) -> Campaign:
    """Start sending now, or at its start time; refused without recipients (none imported or importing)."""
    campaign = _locked(campaign)
    if campaign.status != Status.DRAFT:
        raise _refuse(campaign, "started")
    importing = campaign.uploads.filter(status=CampaignUpload.Status.IMPORTING).exists()
    if not importing and not campaign.recipients.exists():
        raise NothingToSend
    _begin(campaign, timezone.now())
    return campaign


def _take_back(campaign: Campaign, *, to: str) -> None:
    """Cancel the campaign's messages still waiting in the outbox; their recipients become ``to``."""
    waiting = CampaignRecipient.objects.filter(campaign=campaign, status=CampaignRecipient.Status.QUEUED)
    message_ids = list(
        waiting.filter(message__status=Message.Status.QUEUED).values_list("message_id", flat=True).order_by()
    )
    taken = outbound.cancel_messages(message_ids=message_ids, reason=f"campaign {campaign.pk} {campaign.status}")
    now = timezone.now()
    CampaignRecipient.objects.filter(campaign=campaign, message_id__in=taken).update(status=to, status_at=now)


@transaction.atomic
def pause_campaign(campaign: Campaign, *, reason: str = "") -> Campaign:
    """Stop at once: nothing more is handed over, and what waits in the outbox is taken back until resumed."""
    campaign = _locked(campaign)
    if campaign.status not in ACTIVE:
        raise _refuse(campaign, "paused")
    _pause(campaign, reason)
    return campaign


def _pause(campaign: Campaign, reason: str) -> None:
    campaign.status, campaign.paused_reason = Status.PAUSED, reason[:300]
    campaign.save(update_fields=["status", "paused_reason", "updated_at"])
    _take_back(campaign, to=CampaignRecipient.Status.PENDING)


@transaction.atomic
def resume_campaign(campaign: Campaign) -> Campaign:
    campaign = _locked(campaign)
    if campaign.status != Status.PAUSED:
        raise _refuse(campaign, "resumed")
    _begin(campaign, timezone.now())
    return campaign


@transaction.atomic
def cancel_campaign(campaign: Campaign) -> Campaign:
    """Stop for good: what waits in the outbox is cancelled, and so is every recipient not yet handed over."""
    campaign = _locked(campaign)
    if campaign.status in (Status.FINISHED, Status.CANCELLED):
        raise _refuse(campaign, "cancelled")
    now = timezone.now()
    campaign.status, campaign.finished_at = Status.CANCELLED, now
    campaign.save(update_fields=["status", "finished_at", "updated_at"])
    _take_back(campaign, to=CampaignRecipient.Status.CANCELLED)
    campaign.recipients.filter(status=CampaignRecipient.Status.PENDING).update(
        status=CampaignRecipient.Status.CANCELLED, status_at=now
    )
    campaign.uploads.filter(status=CampaignUpload.Status.IMPORTING).update(
        status=CampaignUpload.Status.FAILED, error="The campaign was cancelled.", finished_at=now
    )
    return campaign


def pause_for(campaign: Campaign, reason: str) -> None:
    """The engine's pause, under the lock it holds, when nothing of the campaign could go out (its template
    was paused by Meta, its channel removed)."""
    _pause(campaign, reason)


def finish(campaign: Campaign, now: dt.datetime) -> None:
    """The engine's end of a campaign whose every recipient was handed over (or failed)."""
    campaign.status, campaign.finished_at = Status.FINISHED, now
    campaign.save(update_fields=["status", "finished_at", "updated_at"])


def stats(campaign: Campaign) -> dict[str, Any]:
    """Recipients by status, what the files held, and how far it got (handed over / total, 0 to 100)."""
    by_status = dict(
        campaign.recipients.order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    counts = {status: by_status.get(status, 0) for status in CampaignRecipient.Status.values}
    total = sum(counts.values())
    uploads = list(campaign.uploads.all())
    done = total - counts[CampaignRecipient.Status.PENDING]
    reached = sum(counts[s] for s in ("delivered", "read", "replied"))
    return {
        "recipients": total,
        **counts,
        "reached": reached,
        "rows": sum(u.rows for u in uploads),
        "invalid_rows": sum(u.invalid for u in uploads),
        "duplicates": sum(u.duplicates for u in uploads),
        "importing": any(u.status == CampaignUpload.Status.IMPORTING for u in uploads),
        "progress": round(100 * done / total, 1) if total else 0.0,
    }
