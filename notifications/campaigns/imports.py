"""A campaign's CSV into its recipients, a batch of rows at a time, in the background.

The request that uploads a file only checks its header (``check_header``: a phone column, a column or a
fixed value for every template field) and stores it; ``import_upload`` then reads it row by row. Each
batch's recipients, refused rows and counters are written in one transaction, so an import whose worker
died is resumed after its last batch (rows are skipped by count) and no row is added twice. A number
already in the campaign (from an earlier row or file) is a duplicate: counted, not added again. A row
that cannot be sent (no number, a landline-length typo, a field left blank) is kept with its line and why.
"""

import datetime as dt
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from companies import joblocks
from companies.phones import whatsapp_numbers
from config import queues
from config.bulk_sql import insert_rows
from notifications.campaigns import csv_files
from notifications.campaigns.csv_files import CsvProblem, Header
from notifications.campaigns.template_fields import Fields
from notifications.models import Campaign, CampaignRecipient, CampaignRowError, CampaignUpload

logger = logging.getLogger(__name__)

IMPORT_TASK = "notifications.tasks.campaigns.import_campaign_upload"
BATCH_ROWS = 2000
# The refused rows kept per file with their line and reason; all of them are counted.
MAX_ROW_ERRORS = 10_000
MAX_VALUE_CHARS = 1024  # Meta's limit for a body parameter
# Imports of one campaign run one at a time (duplicates are checked against what earlier batches stored).
# A worker that dies holding the lease blocks its campaign's imports this long at most.
IMPORT_LEASE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Mapping:
    """Where each template field's value comes from in the file: a column index, or the campaign's fixed value."""

    phone: int
    columns: dict[str, int]


def check_header(campaign: Campaign, header: Header, fields: Fields) -> Mapping:
    """The file's columns for the template's fields; raises CsvProblem naming every field without a source."""
    columns: dict[str, int] = {}
    missing = []
    for name in fields.names:
        if name in campaign.fixed:
            continue
        index = header.index_of(str(campaign.columns.get(name, name)))
        if index is None:
            missing.append(name if name not in campaign.columns else f"{name} (column {campaign.columns[name]!r})")
        else:
            columns[name] = index
    if missing:
        raise CsvProblem(
            f"The file has no column for the template's field(s) {', '.join(missing)}: add the column, map it "
            f"with 'columns' or give one value for everyone with 'fixed' "
            f"(its columns are: {', '.join(header.columns)})."
        )
    return Mapping(phone=header.phone_index, columns=columns)


def campaign_phone(cell: str) -> tuple[str, str]:
    """(the number as WhatsApp digits, "") or ("", why the cell is not one number)."""
    if not cell.strip():
        return "", "No phone number."
    found = whatsapp_numbers(cell)
    if not found:
        return "", "Not a phone number: give the DDD (44 99999-8888), and + before another country's code."
    if len(found) > 1:
        return "", "Several phone numbers in one cell: give one per row."
    return found[0], ""


def _cell(cells: list[str], index: int) -> str:
    return cells[index].strip() if index < len(cells) else ""


def _values(row: csv_files.Row, mapping: Mapping, fields: Fields) -> tuple[dict[str, str], str]:
    values = {name: _cell(row.cells, index) for name, index in mapping.columns.items()}
    blank = [name for name, value in values.items() if not value]
    if blank:
        return {}, f"No value for {', '.join(blank)}."
    long = [name for name, value in values.items() if len(value) > MAX_VALUE_CHARS]
    if long:
        return {}, f"Longer than {MAX_VALUE_CHARS} characters: {', '.join(long)}."
    if fields.header_media and "header" in values and not values["header"].startswith("https://"):
        return {}, "The header is a file: give its https link."
    return values, ""


def _store(upload: CampaignUpload, mapping: Mapping, fields: Fields, batch: list[csv_files.Row]) -> None:
    campaign_id = upload.campaign_id
    recipients: dict[str, CampaignRecipient] = {}
    errors: list[CampaignRowError] = []
    duplicates = 0
    for row in batch:
        phone_cell = _cell(row.cells, mapping.phone)
        phone, why = campaign_phone(phone_cell)
        values: dict[str, str] = {}
        if not why:
            values, why = _values(row, mapping, fields)
        if why:
            errors.append(CampaignRowError(upload=upload, line=row.line, phone=phone_cell[:100], reason=why[:300]))
        elif phone in recipients:
            duplicates += 1
        else:
            recipients[phone] = CampaignRecipient(
                campaign_id=campaign_id, upload=upload, line=row.line, phone=phone, values=values
            )
    with transaction.atomic():
        already = set(
            CampaignRecipient.objects.filter(campaign_id=campaign_id, phone__in=list(recipients)).values_list(
                "phone", flat=True
            )
        )
        new = [recipient for phone, recipient in recipients.items() if phone not in already]
        insert_rows(new)
        kept = max(0, MAX_ROW_ERRORS - upload.row_errors.count()) if errors else 0
        insert_rows(errors[:kept])
        CampaignUpload.objects.filter(pk=upload.pk).update(
            rows=F("rows") + len(batch),
            valid=F("valid") + len(new),
            invalid=F("invalid") + len(errors),
            duplicates=F("duplicates") + duplicates + len(already),
        )
    upload.rows += len(batch)


def _batches(rows: Iterable[csv_files.Row]) -> Iterable[list[csv_files.Row]]:
    batch: list[csv_files.Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def import_upload(upload_id: int, *, fields: Fields) -> str:
    """Read one uploaded file into its campaign's recipients (see the module); returns what happened."""
    upload = CampaignUpload.objects.select_related("campaign").filter(pk=upload_id).first()
    if upload is None or upload.status != CampaignUpload.Status.IMPORTING:
        return "nothing to import"
    lock, holder = f"campaign-import:{upload.campaign_id}", uuid.uuid4().hex
    if not joblocks.acquire(lock, holder=holder, lease=IMPORT_LEASE):
        return "another import of the campaign is running"
    try:
        upload.refresh_from_db()
        if upload.status != CampaignUpload.Status.IMPORTING:
            return "nothing to import"
        try:
            with upload.file.open("rb") as file:
                header = csv_files.read_header(file)
                mapping = check_header(upload.campaign, header, fields)
                for batch in _batches(csv_files.rows(file, header, skip=upload.rows)):
                    _store(upload, mapping, fields, batch)
        except CsvProblem as exc:
            _finish(upload, CampaignUpload.Status.FAILED, str(exc))
            return "failed"
        except FileNotFoundError:
            _finish(upload, CampaignUpload.Status.FAILED, "The uploaded file is gone from storage: upload it again.")
            return "failed"
        _finish(upload, CampaignUpload.Status.IMPORTED)
    finally:
        joblocks.release(lock, holder=holder)
    # The campaign's other files waited for this one.
    for waiting in CampaignUpload.objects.filter(
        campaign_id=upload.campaign_id, status=CampaignUpload.Status.IMPORTING
    ).values_list("pk", flat=True):
        queues.publish(IMPORT_TASK, waiting)
    return "imported"


def _finish(upload: CampaignUpload, status: str, error: str = "") -> None:
    CampaignUpload.objects.filter(pk=upload.pk).update(status=status, error=error[:500], finished_at=timezone.now())
    logger.info("Campaign upload %s %s after %s rows", upload.pk, status, upload.rows)
