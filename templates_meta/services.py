"""Template state changes, Meta's template webhooks, and filling an approved template for a message.

A template is sent as Cloud API ``components`` on Cloud channels and rendered as plain text (buttons
as numbered options) on Evolution channels, so one notice works on both kinds.
"""

import contextlib
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from companies.models import Channel, Company
from companies.wabas import cloud_wabas
from templates_meta import defaults, events, rules
from templates_meta.exceptions import TemplateNotUsable
from templates_meta.models import Template, TemplatePurpose, TemplateStatusChange


def record_status(*, template: Template, status: str, reason: str = "", source: str, event: str = "") -> bool:
    """Set the template's status (with history); returns whether it changed."""
    if status not in Template.Status.values:
        return False
    if template.status == status and template.rejection_reason == reason[:255]:
        return False
    template.status, template.rejection_reason = status, reason[:255]
    template.save(update_fields=["status", "rejection_reason", "updated_at"])
    TemplateStatusChange.objects.create(
        template=template, status=status, event=(event or status)[:32], reason=reason[:255], source=source
    )
    events.TEMPLATE_STATUS_CHANGED.emit(
        company_id=template.company_id,
        payload={
            "template_id": template.pk,
            "name": template.name,
            "language": template.language,
            "status": status,
            "reason": reason[:255],
            "source": source,
        },
    )
    return True


# ------------------------------------------------------------------------------ webhooks
# Meta's template webhooks, each read into the template's state and history, with what it means in words:
# https://developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/message_template_status_update
# (and .../message_template_quality_update, .../template_category_update, .../message_template_components_update).


@dataclass(frozen=True)
class Noticed:
    """What a notice handler did: true when it changed something; ``summary`` says what the notice means."""

    done: bool
    summary: str

    def __bool__(self) -> bool:
        return self.done


# Events that change what the template is; the others warn of something while its status stays.
STATUS_EVENTS = frozenset(Template.Status.values)
EVENT_MEANINGS = {
    "APPROVED": "approved: it can be sent",
    "PENDING": "in review at Meta",
    "REJECTED": "rejected: edit it and submit it again, or appeal",
    "PAUSED": "paused by Meta for low quality: it cannot be sent for now",
    "DISABLED": "disabled by Meta after repeated pauses",
    "FLAGGED": "flagged for negative feedback: it will be disabled unless its quality improves",
    "REINSTATED": "reinstated: no longer flagged or disabled",
    "IN_APPEAL": "in appeal",
    "ARCHIVED": "archived: Meta deletes it after 28 days unless it is used",
    "UNARCHIVED": "unarchived: back to the status it had",
    "DELETED": "deleted",
    "PENDING_DELETION": "deleted in WhatsApp Manager: it stops being sendable",
    "LIMIT_EXCEEDED": "refused: the WABA has as many templates as Meta allows",
    "LOCKED": "locked: it cannot be edited",
    "UNLOCKED": "unlocked: it can be edited again",
}


def _template_for(company: Company, value: dict[str, Any]) -> Template | None:
    by_id = Template.objects.filter(company=company, meta_template_id=str(value.get("message_template_id", "")))
    template = by_id.first() if value.get("message_template_id") else None
    if template is None:
        template = Template.objects.filter(
            company=company,
            waba_id=str(value.get("waba_id", "")),
            name=str(value.get("message_template_name", "")),
            language=str(value.get("message_template_language", "")),
        ).first()
    return template


def _named(value: dict[str, Any]) -> str:
    return f"Template {value.get('message_template_name') or '?'} ({value.get('message_template_language') or '?'})"


def _unknown(value: dict[str, Any], meaning: str) -> Noticed:
    return Noticed(False, f"{_named(value)} {meaning}; it is not in this company's catalogue."[:255])


def _when(value: Any) -> dt.datetime | None:
    """Meta's dates come as Unix seconds (a number or digits) or as ISO text."""
    text = str(value or "").strip()
    if text.isdigit():
        return dt.datetime.fromtimestamp(int(text), tz=dt.UTC)
    with contextlib.suppress(ValueError):
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def _history(template: Template, *, event: str, reason: str, source: str = "webhook") -> None:
    TemplateStatusChange.objects.create(
        template=template, status=template.status, event=event[:32], reason=reason[:255], source=source
    )


def _reason(value: dict[str, Any]) -> str:
    reason = str(value.get("reason") or "")
    info = value.get("rejection_info") or value.get("other_info") or {}
    if isinstance(info, dict) and (info.get("reason") or info.get("recommendation") or info.get("description")):
        parts = [str(info[k]) for k in ("title", "reason", "recommendation", "description") if info.get(k)]
        reason = ": ".join(parts)
    return "" if reason == "NONE" else reason


def _status_before_archive(template: Template) -> str:
    before = template.status_changes.exclude(status=Template.Status.ARCHIVED).values_list("status", flat=True).first()
    return before or Template.Status.APPROVED


def on_status_update(*, company: Company, value: dict[str, Any]) -> Noticed:
    """message_template_status_update: every ``event`` Meta sends, into the template's status or warning."""
    event = str(value.get("event", "")).upper()
    meaning = EVENT_MEANINGS.get(event, f"reported as {event or '(no event)'} by Meta")
    reason = _reason(value)
    disable_info = value.get("disable_info")
    disable_at = _when(disable_info.get("disable_date") if isinstance(disable_info, dict) else None)
    if disable_at:
        meaning += f" (disabled on {disable_at:%Y-%m-%d})" if event == "DISABLED" else f" on {disable_at:%Y-%m-%d}"
    summary = f"{_named(value)} {meaning}" + (f": {reason}" if reason else "")
    template = _template_for(company, value)
    if template is None:
        return _unknown(value, meaning)
    with transaction.atomic():
        if not template.meta_template_id and value.get("message_template_id"):
            template.meta_template_id = str(value["message_template_id"])
            template.save(update_fields=["meta_template_id", "updated_at"])
        if event in STATUS_EVENTS or event in ("REINSTATED", "UNARCHIVED"):
            status = {"REINSTATED": Template.Status.APPROVED, "UNARCHIVED": _status_before_archive(template)}.get(
                event, event
            )
            template.warning, template.warning_until = "", None  # a new status answers what was warned of
            template.save(update_fields=["warning", "warning_until", "updated_at"])
            if not record_status(template=template, status=status, reason=reason, source="webhook", event=event):
                _history(template, event=event, reason=reason)
        else:  # FLAGGED, LOCKED, UNLOCKED, and what Meta adds later: the template stays as it is
            template.warning, template.warning_until = summary[:255], disable_at
            template.save(update_fields=["warning", "warning_until", "updated_at"])
            _history(template, event=event, reason=summary)
    return Noticed(True, summary[:255])


def on_quality_update(*, company: Company, value: dict[str, Any]) -> Noticed:
    """message_template_quality_update: GREEN (high), YELLOW (medium), RED (low), UNKNOWN (not yet rated)."""
    before, after = str(value.get("previous_quality_score", "")), str(value.get("new_quality_score", ""))
    meaning = f"quality {before or '?'} → {after or '?'}"
    template = _template_for(company, value)
    if template is None:
        return _unknown(value, meaning)
    with transaction.atomic():
        template.quality_score = after[:10]
        template.save(update_fields=["quality_score", "updated_at"])
        _history(template, event="QUALITY", reason=meaning)
    return Noticed(True, f"{_named(value)} {meaning}")


def on_category_update(*, company: Company, value: dict[str, Any]) -> Noticed:
    """template_category_update: a change Meta announces (``correct_category``, in 24 h) or has made."""
    template = _template_for(company, value)
    upcoming = str(value.get("correct_category") or "").upper()
    category = str(value.get("new_category", "")).upper()
    if upcoming:
        at = _when(value.get("category_update_timestamp"))
        meaning = f"will become {upcoming}" + (f" on {at:%Y-%m-%d %H:%M} UTC" if at else "") + ": it is charged as such"
        if template is None:
            return _unknown(value, meaning)
        with transaction.atomic():
            template.warning, template.warning_until = f"Meta: the category {meaning}"[:255], at
            template.save(update_fields=["warning", "warning_until", "updated_at"])
            _history(template, event="CATEGORY_CHANGE_ANNOUNCED", reason=f"Category {meaning}")
        return Noticed(True, f"{_named(value)} {meaning}"[:255])
    before = str(value.get("previous_category", "")).upper()
    meaning = f"category {before or '?'} → {category or '?'}"
    if template is None or category not in Template.Category.values:
        return _unknown(value, meaning)
    with transaction.atomic():
        template.category = category
        template.warning, template.warning_until = "", None
        template.save(update_fields=["category", "warning", "warning_until", "updated_at"])
        _history(template, event="CATEGORY", reason=f"Meta changed the {meaning}")
    return Noticed(True, f"{_named(value)} {meaning}")


def _components(value: dict[str, Any], current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The components Meta says the template now has; what the webhook leaves out (examples, a media
    header) is kept from the current ones."""
    kept = {str(c.get("type", "")).upper(): c for c in current if isinstance(c, dict)}
    components: list[dict[str, Any]] = []
    title = value.get("message_template_title")
    header = kept.get("HEADER")
    if title:
        components.append({**(header or {}), "type": "HEADER", "format": "TEXT", "text": str(title)})
    elif header and str(header.get("format", "")).upper() != "TEXT":
        components.append(header)
    body = {**kept.get("BODY", {}), "type": "BODY", "text": str(value.get("message_template_element") or "")}
    components.append(body)
    if value.get("message_template_footer"):
        components.append({"type": "FOOTER", "text": str(value["message_template_footer"])})
    buttons = []
    for item in value.get("message_template_buttons") or []:
        if not isinstance(item, dict):
            continue
        button = {
            "type": str(item.get("message_template_button_type", "")),
            "text": str(item.get("message_template_button_text", "")),
        }
        for key, name in (
            ("message_template_button_url", "url"),
            ("message_template_button_phone_number", "phone_number"),
        ):
            if item.get(key):
                button[name] = str(item[key])
        buttons.append(button)
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return components


def on_components_update(*, company: Company, value: dict[str, Any]) -> Noticed:
    """message_template_components_update: the template's text and buttons as Meta now has them."""
    template = _template_for(company, value)
    if template is None:
        return _unknown(value, "has new components")
    with transaction.atomic():
        template.components = _components(value, template.components)
        template.save(update_fields=["components", "updated_at"])
        _history(template, event="COMPONENTS", reason="Meta updated the components (body, header, footer, buttons)")
    return Noticed(True, f"{_named(value)}: components updated from Meta")


# Meta's template webhooks by ``changes[].field``; the inbound pipeline (conversations) calls them.
NOTICE_HANDLERS = {
    "message_template_status_update": on_status_update,
    "message_template_quality_update": on_quality_update,
    "template_category_update": on_category_update,
    "message_template_components_update": on_components_update,
}


# ------------------------------------------------------------------------------ sending


def _body_values(template: Template, parameters: Any) -> list[tuple[str, str]]:
    """(variable, value) pairs for the body, checked against the template's variables."""
    body = template.component("BODY") or {}
    names = list(dict.fromkeys(rules.variables(str(body.get("text", "")), template.parameter_format)))
    given = parameters.get("body", []) if isinstance(parameters, dict) and "body" in parameters else parameters
    if template.parameter_format == Template.ParameterFormat.NAMED:
        if not isinstance(given, dict):
            raise TemplateNotUsable(details={"parameters": [f"Give the body values by name: {', '.join(names)}."]})
        missing = [n for n in names if not str(given.get(n, "")).strip()]
        extra = sorted(set(given) - set(names))
        if missing or extra:
            raise TemplateNotUsable(
                details={
                    "parameters": [
                        f"Expected values for {', '.join(names) or 'no variables'}; "
                        f"missing {', '.join(missing) or 'none'}, unknown {', '.join(extra) or 'none'}."
                    ]
                }
            )
        return [(n, str(given[n])) for n in names]
    values = list(given or []) if isinstance(given, list) else None
    if values is None or len(values) != len(names) or any(not str(v).strip() for v in values):
        count = len(values) if values is not None else "no list of"
        raise TemplateNotUsable(
            details={"parameters": [f"The template's body takes {len(names)} values; {count} given."]}
        )
    return list(zip(names, (str(v) for v in values), strict=True))


def _header_parameter(template: Template, parameters: Any) -> dict[str, Any] | None:
    header = template.component("HEADER")
    if not header:
        return None
    fmt = str(header.get("format", "")).upper()
    value = parameters.get("header") if isinstance(parameters, dict) else None
    if fmt == "TEXT":
        if not rules.variables(str(header.get("text", "")), template.parameter_format):
            return None
        if not value:
            raise TemplateNotUsable(details={"parameters": ["The header has a variable: give parameters.header."]})
        parameter = {"type": "text", "text": str(value)}
        if template.parameter_format == Template.ParameterFormat.NAMED:
            parameter["parameter_name"] = rules.variables(str(header.get("text", "")), "NAMED")[0]
        return parameter
    if fmt in rules.MEDIA_HEADERS:
        if not isinstance(value, str) or not value.startswith("https://"):
            raise TemplateNotUsable(
                details={"parameters": [f"The header is a {fmt.lower()}: give its https link as parameters.header."]}
            )
        kind = fmt.lower()
        return {"type": kind, kind: {"link": value}}
    if fmt == "LOCATION":
        if not isinstance(value, dict) or not {"latitude", "longitude"} <= set(value):
            raise TemplateNotUsable(details={"parameters": ["The header is a location: give latitude and longitude."]})
        return {"type": "location", "location": value}
    return None


def _button_components(template: Template, parameters: Any) -> list[dict[str, Any]]:
    buttons = (template.component("BUTTONS") or {}).get("buttons") or []
    values = parameters.get("buttons", []) if isinstance(parameters, dict) else []
    components = []
    for index, button in enumerate(buttons):
        kind = str(button.get("type", "")).upper()
        needs_value = (kind == "URL" and rules.ANY_VARIABLE.search(str(button.get("url", "")))) or kind == "COPY_CODE"
        if not needs_value:
            continue
        if index >= len(values) or not str(values[index] or "").strip():
            raise TemplateNotUsable(
                details={"parameters": [f"Button {index + 1} ({kind.lower()}) needs a value in parameters.buttons."]}
            )
        if kind == "URL":
            parameter = {"type": "text", "text": str(values[index])}
            components.append({"type": "button", "sub_type": "url", "index": str(index), "parameters": [parameter]})
        else:
            parameter = {"type": "coupon_code", "coupon_code": str(values[index])}
            components.append(
                {"type": "button", "sub_type": "copy_code", "index": str(index), "parameters": [parameter]}
            )
    return components


def _fill(text: str, values: dict[str, str]) -> str:
    return rules.ANY_VARIABLE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def render_text(template: Template, body_values: list[tuple[str, str]], header_value: str = "") -> str:
    """The template as plain text: what an Evolution (unofficial) number sends in its place."""
    parts = []
    header = template.component("HEADER")
    if header and str(header.get("format", "")).upper() == "TEXT":
        text = str(header.get("text", ""))
        names = rules.variables(text, template.parameter_format)
        parts.append(f"*{_fill(text, {names[0]: header_value} if names and header_value else {})}*")
    parts.append(_fill(str((template.component("BODY") or {}).get("text", "")), dict(body_values)))
    footer = template.component("FOOTER")
    if footer and footer.get("text"):
        parts.append(f"_{footer['text']}_")
    buttons = (template.component("BUTTONS") or {}).get("buttons") or []
    options = [f"{i} - {b.get('text', '')}" for i, b in enumerate(buttons, start=1) if b.get("text")]
    if options:
        parts.append("\n".join(options))
    return re.sub(r"\n{3,}", "\n\n", "\n\n".join(p for p in parts if p.strip()))


@dataclass(frozen=True)
class FilledTemplate:
    """An approved template with its values: Cloud API components, and the same as text for Evolution."""

    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    rendered_text: str


def fill_template(*, company: Company, channel: Channel, name: str, language: str, parameters: Any) -> FilledTemplate:
    """The approved template ``name`` of ``company`` (on the channel's WABA) filled with ``parameters``.

    Raises TemplateNotUsable (with ``details.parameters`` or ``details.template``) when the template
    does not exist for the channel's WABA, is not approved, or the parameters do not fit.
    """
    templates = Template.objects.filter(company=company, name=name, language=language)
    if channel.kind == Channel.Kind.CLOUD:
        templates = templates.filter(waba_id=channel.waba_id)
    template = templates.filter(status=Template.Status.APPROVED).first() or templates.first()
    if template is None:
        raise TemplateNotUsable(
            f"No template {name!r} in {language} for this company's WhatsApp account.", details={"template": [name]}
        )
    if not template.is_sendable:
        why = f" ({template.rejection_reason})" if template.rejection_reason else ""
        raise TemplateNotUsable(
            f"The template {name!r} is {template.get_status_display().lower()}{why}: only approved templates are sent.",
            details={"template": [template.status]},
        )
    body_values = _body_values(template, parameters)
    components: list[dict[str, Any]] = []
    header = _header_parameter(template, parameters)
    if header:
        components.append({"type": "header", "parameters": [header]})
    if body_values:
        named = template.parameter_format == Template.ParameterFormat.NAMED
        components.append(
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": value, **({"parameter_name": key} if named else {})}
                    for key, value in body_values
                ],
            }
        )
    components += _button_components(template, parameters)
    header_text = header.get("text", "") if header and header.get("type") == "text" else ""
    return FilledTemplate(
        name=template.name,
        language=template.language,
        category=template.category,
        components=components,
        rendered_text=render_text(template, body_values, header_text),
    )


# ------------------------------------------------------------------------------ purposes and defaults


@transaction.atomic
def create_default_drafts(*, company: Company) -> list[Template]:
    """Draft templates (pt_BR) for each purpose, on each of the company's WABAs; existing ones are kept."""
    return defaults.create_drafts(
        company=company,
        wabas=cloud_wabas(company.channels.all()),
        template_model=Template,
        purpose_model=TemplatePurpose,
    )


@dataclass(frozen=True)
class PurposeCall:
    """The template a company chose for a purpose, with its parameters filled from the occasion's values."""

    name: str
    language: str
    parameters: Any


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _filled_placeholders(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [_filled_placeholders(item, values) for item in value]
    if isinstance(value, dict):
        return {key: _filled_placeholders(item, values) for key, item in value.items()}
    return value


def purpose_call(*, company: Company, purpose: str, values: dict[str, str]) -> PurposeCall | None:
    """The company's template for ``purpose`` with ``{placeholders}`` filled from ``values``; None when it
    has chosen none. Whether it is approved on the channel's account is ``fill_template``'s to say."""
    chosen = (
        TemplatePurpose.objects.filter(company=company, purpose=purpose, template__isnull=False)
        .select_related("template")
        .first()
    )
    if chosen is None:
        return None
    return PurposeCall(
        name=chosen.template.name,
        language=chosen.template.language,
        parameters=_filled_placeholders(chosen.parameters, values),
    )
