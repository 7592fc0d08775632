"""The template services that talk to Meta: submit (create or edit), sync a WABA, delete.

HTTP happens before the database writes, so a slow Meta never holds a transaction open, and a sync
only marks templates deleted after the whole list has arrived. Meta's rules and limits:
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates.
"""

from typing import Any

from django.db import transaction
from django.utils import timezone

from companies.models import Channel, Company
from config.exceptions import Conflict, DomainError
from templates_meta import rules
from templates_meta.graph_api import TemplateApiError, TemplatesClient
from templates_meta.models import Template, TemplateStatusChange

__all__ = [
    "NoCloudChannel",
    "TemplateApiError",
    "TemplateInvalid",
    "TemplateNotSubmittable",
    "delete_at_meta",
    "submit_template",
    "sync_waba",
]

Status = Template.Status
# Meta edits only these (§10.5 "Edits"); the others must be created, or cannot change at all.
EDITABLE = frozenset({Status.APPROVED, Status.REJECTED, Status.PAUSED})
IN_REVIEW = frozenset({Status.PENDING, Status.IN_APPEAL, Status.PENDING_DELETION})
PART_LABELS = {"name": "Name", "header": "Header", "body": "Body", "footer": "Footer", "buttons": "Buttons"}


class TemplateInvalid(DomainError):
    """The template breaks Meta's rules; ``errors`` maps each part (name, body, …) to its messages."""

    status = 422
    code = "template_invalid"

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        summary = "; ".join(
            f"{PART_LABELS.get(part, part.capitalize())}: {' '.join(msgs)}" for part, msgs in errors.items()
        )
        super().__init__(f"The template breaks Meta's rules. {summary}", details=errors)


class NoCloudChannel(Conflict):
    code = "no_cloud_channel"


class TemplateNotSubmittable(Conflict):
    code = "template_not_submittable"


def client_for(*, company: Company, waba_id: str) -> TemplatesClient:
    """The client of the company's Cloud channel for ``waba_id`` (active ones first); raises NoCloudChannel."""
    channel = (
        company.channels.filter(kind=Channel.Kind.CLOUD, waba_id=waba_id)
        .exclude(waba_id="")
        .order_by("-is_active", "pk")
        .first()
    )
    if channel is None or not channel.access_token:
        raise NoCloudChannel(
            f"{company} has no Cloud API channel with WABA id {waba_id or '(empty)'} and an access token: "
            "add one to the company before talking to Meta."
        )
    return TemplatesClient(channel)


def _record(template: Template, *, reason: str, source: str) -> None:
    TemplateStatusChange.objects.create(template=template, status=template.status, reason=reason[:255], source=source)


def submit_template(*, template: Template) -> Template:
    """Send the template for review: created at Meta, or edited when Meta allows it. Returns it, PENDING
    (or the status Meta answered the creation with).

    Raises TemplateInvalid (with rules.validate's messages), TemplateNotSubmittable, NoCloudChannel
    or TemplateApiError (Meta's refusal, in words).
    """
    errors = rules.validate(
        name=template.name,
        category=template.category,
        parameter_format=template.parameter_format,
        components=template.components,
    )
    if errors:
        raise TemplateInvalid(errors)
    if template.meta_template_id and template.status in IN_REVIEW | {Status.DISABLED}:
        why = (
            "Meta disabled it: create a new template with another name instead."
            if template.status == Status.DISABLED
            else "Meta is still reviewing it; wait for its decision (sync to refresh the status)."
        )
        raise TemplateNotSubmittable(f"This template cannot be submitted while {template.get_status_display()}: {why}")
    client = client_for(company=template.company, waba_id=template.waba_id)
    if template.meta_template_id and template.status in EDITABLE:
        # Meta cannot change an approved template's category (§10.2); it recategorises by webhook instead.
        category = None if template.status == Status.APPROVED else template.category
        client.edit(template.meta_template_id, components=template.components, category=category)
        status, reason = Status.PENDING, "Edited at Meta; in review again"
    else:
        created = client.create(
            template.waba_id,
            {
                "name": template.name,
                "language": template.language,
                "category": template.category,
                "parameter_format": template.parameter_format.lower(),  # Meta takes it in lower case
                "components": template.components,
            },
        )
        template.meta_template_id = str(created["id"])
        status = created.get("status") if created.get("status") in Status.values else Status.PENDING
        template.category = (
            created.get("category") if created.get("category") in Template.Category.values else template.category
        )
        reason = "Submitted to Meta"
    with transaction.atomic():
        template.status, template.rejection_reason = status, ""
        template.save(update_fields=["meta_template_id", "status", "category", "rejection_reason", "updated_at"])
        _record(template, reason=reason, source=TemplateStatusChange.Source.SUBMIT)
    return template


def _remote_fields(item: dict[str, Any]) -> dict[str, Any]:
    """A listed template as model fields (only the ones Meta sent, and only known values)."""
    fields: dict[str, Any] = {"meta_template_id": str(item.get("id", ""))}
    status = str(item.get("status", "")).upper()
    if status in Status.values:
        fields["status"] = status
    category = str(item.get("category", "")).upper()
    if category in Template.Category.values:
        fields["category"] = category
    fmt = str(item.get("parameter_format") or "POSITIONAL").upper()
    if fmt in Template.ParameterFormat.values:
        fields["parameter_format"] = fmt
    if isinstance(item.get("components"), list):
        fields["components"] = item["components"]
    quality = item.get("quality_score")
    if isinstance(quality, dict) and quality.get("score"):
        fields["quality_score"] = str(quality["score"])[:10]
    reason = str(item.get("rejected_reason") or "")
    fields["rejection_reason"] = "" if reason == "NONE" else reason[:255]
    return fields


def _changes(template: Template, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields that differ. The reason is Meta's bare code (e.g. INVALID_FORMAT) while a webhook
    may have stored a fuller text: it only replaces the stored one when the status changes or none is stored."""
    fields = dict(fields)
    status_changes = fields.get("status", template.status) != template.status
    if not status_changes and (template.rejection_reason or not fields["rejection_reason"]):
        fields.pop("rejection_reason")
    return {name: value for name, value in fields.items() if getattr(template, name) != value}


def sync_waba(*, company: Company, waba_id: str) -> dict[str, int]:
    """Make the WABA's local templates match Meta: create, update, mark DELETED what Meta no longer lists.

    Returns ``{"created", "updated", "deleted"}`` (updated counts rows that changed). Raises
    NoCloudChannel or TemplateApiError, in which case nothing was written.
    """
    remote = list(client_for(company=company, waba_id=waba_id).list_templates(waba_id))
    counts = {"created": 0, "updated": 0, "deleted": 0}
    now = timezone.now()
    with transaction.atomic():
        local = list(Template.objects.select_for_update().filter(company=company, waba_id=waba_id))
        by_id = {t.meta_template_id: t for t in local if t.meta_template_id}
        by_key = {(t.name, t.language): t for t in local}
        seen: set[int] = set()
        for item in remote:
            fields = _remote_fields(item)
            key = (str(item.get("name", "")), str(item.get("language", "")))
            template = by_id.get(fields["meta_template_id"]) or by_key.get(key)
            if template is None:
                if not all(key) or "status" not in fields:
                    continue  # nothing we could store or send; Meta always gives these
                template = Template.objects.create(
                    company=company, waba_id=waba_id, name=key[0], language=key[1], last_synced_at=now, **fields
                )
                _record(template, reason=fields["rejection_reason"] or "Found at Meta", source="sync")
                counts["created"] += 1
                seen.add(template.pk)
                continue
            seen.add(template.pk)
            changes = _changes(template, fields)
            for name, value in changes.items():
                setattr(template, name, value)
            template.last_synced_at = now
            template.save(update_fields=[*changes, "last_synced_at", "updated_at"])
            counts["updated"] += bool(changes)
            if "status" in changes:
                _record(template, reason=template.rejection_reason or "Changed at Meta", source="sync")
        for template in local:
            if template.pk in seen or template.status in (Status.DRAFT, Status.DELETED):
                continue
            template.status, template.last_synced_at = Status.DELETED, now
            template.save(update_fields=["status", "last_synced_at", "updated_at"])
            _record(template, reason="No longer listed at Meta (deleted there)", source="sync")
            counts["deleted"] += 1
    return counts


def delete_at_meta(*, template: Template) -> Template:
    """Delete this language of the template at Meta and mark it DELETED. Raises TemplateNotSubmittable,
    NoCloudChannel or TemplateApiError.

    Meta blocks the name of a deleted approved template for 30 days and cannot delete disabled ones (§10.2, §10.5).
    """
    if template.status == Status.DELETED:
        raise TemplateNotSubmittable("This template is already deleted at Meta.")
    if template.status == Status.DISABLED:
        raise TemplateNotSubmittable("This template is disabled: Meta does not allow deleting disabled templates.")
    if not template.meta_template_id:
        # Deleting by name alone would delete every language of the template at Meta: never guess.
        raise TemplateNotSubmittable(
            "This template has no Meta template id: it was never submitted (delete the draft here) "
            "or has not been synced yet (sync its WABA first)."
        )
    client = client_for(company=template.company, waba_id=template.waba_id)
    client.delete(template.waba_id, template.name, template_id=template.meta_template_id)
    with transaction.atomic():
        template.status = Status.DELETED
        template.save(update_fields=["status", "updated_at"])
        _record(template, reason="Deleted at Meta from the panel", source=TemplateStatusChange.Source.SUBMIT)
    return template
