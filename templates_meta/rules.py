"""Meta's rules for message templates, checked before submitting, with messages an admin understands.

Rules from Meta's "Template components" and "Template management" pages
(https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates/components,
https://developers.facebook.com/docs/whatsapp/business-management-api/message-templates). Meta
refuses a template breaking any of them with error 100; catching them here saves a round trip and
says what to fix.
"""

import re
from collections import defaultdict
from typing import Any

NAME = re.compile(r"^[a-z0-9_]+$")
POSITIONAL_VARIABLE = re.compile(r"\{\{\s*(\d+)\s*\}\}")
NAMED_VARIABLE = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
ANY_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
ADJACENT_VARIABLES = re.compile(r"\}\}\s*\{\{")

MAX_NAME = 512
MAX_HEADER_TEXT = 60
MAX_BODY = 1024
MAX_FOOTER = 60
MAX_BUTTONS = 10
MAX_BUTTON_TEXT = 25
MAX_URL_BUTTONS = 2
MAX_URL = 2000
MAX_PHONE_BUTTONS = 1
MAX_PHONE = 20
MAX_COPY_CODE_BUTTONS = 1
MAX_COPY_CODE_EXAMPLE = 20
MEDIA_HEADERS = ("IMAGE", "VIDEO", "DOCUMENT")
HEADER_FORMATS = ("TEXT", *MEDIA_HEADERS, "LOCATION")
BUTTON_TYPES = ("QUICK_REPLY", "URL", "PHONE_NUMBER", "COPY_CODE", "OTP")

Errors = dict[str, list[str]]


def variables(text: str, parameter_format: str) -> list[str]:
    """The variables of ``text`` in order of appearance, as written ("1", "2" or "first_name")."""
    pattern = NAMED_VARIABLE if parameter_format == "NAMED" else POSITIONAL_VARIABLE
    return pattern.findall(text or "")


def _check_variables(text: str, parameter_format: str, where: str, errors: Errors) -> list[str]:
    found = variables(text, parameter_format)
    malformed = [v for v in ANY_VARIABLE.findall(text or "") if v not in found]
    if malformed:
        style = "{{first_name}} (lowercase, digits, underscores)" if parameter_format == "NAMED" else "{{1}}, {{2}}, …"
        errors[where].append(f"Variables must look like {style}; fix: {', '.join('{{' + v + '}}' for v in malformed)}.")
    if parameter_format != "NAMED" and found:
        numbers = sorted({int(v) for v in found})
        if numbers != list(range(1, len(numbers) + 1)):
            seen = ", ".join("{{" + str(n) + "}}" for n in numbers)
            errors[where].append(f"Variables must be numbered from {{{{1}}}} without gaps; found {seen}.")
    return list(dict.fromkeys(found))


def _examples(component: dict[str, Any], key_positional: str, key_named: str, parameter_format: str) -> list[str]:
    example = component.get("example") or {}
    if parameter_format == "NAMED":
        return [str(p.get("param_name", "")) for p in example.get(key_named) or [] if isinstance(p, dict)]
    values = example.get(key_positional) or []
    if values and isinstance(values[0], list):  # body_text is a list of one list
        values = values[0]
    return [str(v) for v in values]


def _check_examples(names: list[str], given: list[str], parameter_format: str, where: str, errors: Errors) -> None:
    if not names:
        return
    if parameter_format == "NAMED":
        missing = [n for n in names if n not in given]
        if missing:
            errors[where].append(f"Give an example for every variable; missing: {', '.join(missing)}.")
    elif len(given) < len(names) or any(not value.strip() for value in given[: len(names)]):
        errors[where].append(f"Give an example for every variable: {len(names)} needed, {len(given)} given.")


def _check_header(header: dict[str, Any], category: str, parameter_format: str, errors: Errors) -> None:
    fmt = str(header.get("format", "")).upper()
    if fmt not in HEADER_FORMATS:
        errors["header"].append(f"The header format must be one of {', '.join(HEADER_FORMATS)}.")
        return
    if fmt == "TEXT":
        text = str(header.get("text", ""))
        if not text.strip():
            errors["header"].append("A text header needs its text.")
        if len(text) > MAX_HEADER_TEXT:
            errors["header"].append(f"The header text has {len(text)} characters; the limit is {MAX_HEADER_TEXT}.")
        names = _check_variables(text, parameter_format, "header", errors)
        if len(names) > 1:
            errors["header"].append("A text header may have at most one variable.")
        given = _examples(header, "header_text", "header_text_named_params", parameter_format)
        _check_examples(names, given, parameter_format, "header", errors)
    elif fmt in MEDIA_HEADERS:
        if not (header.get("example") or {}).get("header_handle"):
            errors["header"].append(
                f"A {fmt.lower()} header needs a sample file (example.header_handle from Meta's upload API)."
            )
    elif fmt == "LOCATION" and category == "AUTHENTICATION":
        errors["header"].append("Location headers are only for utility and marketing templates.")


def _check_body(body: dict[str, Any], parameter_format: str, errors: Errors) -> None:
    text = str(body.get("text", ""))
    if not text.strip():
        errors["body"].append("The body is required.")
        return
    if len(text) > MAX_BODY:
        errors["body"].append(f"The body has {len(text)} characters; the limit is {MAX_BODY}.")
    names = _check_variables(text, parameter_format, "body", errors)
    stripped = text.strip()
    if ANY_VARIABLE.match(stripped):
        errors["body"].append("The body cannot start with a variable: put some words before it.")
    if re.search(r"\{\{[^{}]*\}\}$", stripped):
        errors["body"].append("The body cannot end with a variable: put some words (or a full stop) after it.")
    if ADJACENT_VARIABLES.search(text):
        errors["body"].append("Two variables cannot be next to each other: put words between them.")
    given = _examples(body, "body_text", "body_text_named_params", parameter_format)
    _check_examples(names, given, parameter_format, "body", errors)


def _check_buttons(buttons: Any, category: str, errors: Errors) -> None:
    if not isinstance(buttons, list) or not buttons:
        errors["buttons"].append("A buttons component needs at least one button.")
        return
    if len(buttons) > MAX_BUTTONS:
        errors["buttons"].append(f"At most {MAX_BUTTONS} buttons; there are {len(buttons)}.")
    kinds = [str(b.get("type", "")).upper() if isinstance(b, dict) else "" for b in buttons]
    for position, (kind, button) in enumerate(zip(kinds, buttons, strict=True), start=1):
        label = f"Button {position}"
        if kind not in BUTTON_TYPES:
            errors["buttons"].append(f"{label}: the type must be one of {', '.join(BUTTON_TYPES)}.")
            continue
        text = str(button.get("text", ""))
        if kind != "OTP" and not text.strip():
            errors["buttons"].append(f"{label}: the button needs a label.")
        if len(text) > MAX_BUTTON_TEXT:
            errors["buttons"].append(f"{label}: the label has {len(text)} characters; the limit is {MAX_BUTTON_TEXT}.")
        if kind == "URL":
            url = str(button.get("url", ""))
            if not url.startswith(("https://", "http://")) or len(url) > MAX_URL:
                errors["buttons"].append(
                    f"{label}: give a web address (http or https) of at most {MAX_URL} characters."
                )
            url_variables = ANY_VARIABLE.findall(url)
            if len(url_variables) > 1 or (url_variables and not url.rstrip().endswith("}}")):
                errors["buttons"].append(f"{label}: a link may have one variable, at its very end.")
            if url_variables and not button.get("example"):
                errors["buttons"].append(f"{label}: give an example value for the link's variable.")
        elif kind == "PHONE_NUMBER":
            phone = str(button.get("phone_number", ""))
            if not re.fullmatch(r"\+?\d{8,20}", phone):
                errors["buttons"].append(f"{label}: give the phone number with country code, digits only.")
        elif kind == "COPY_CODE":
            example = button.get("example")
            example = example[0] if isinstance(example, list) and example else example
            if not example or len(str(example)) > MAX_COPY_CODE_EXAMPLE:
                errors["buttons"].append(
                    f"{label}: give an example code of at most {MAX_COPY_CODE_EXAMPLE} characters."
                )
        elif kind == "OTP" and category != "AUTHENTICATION":
            errors["buttons"].append(f"{label}: one-time-password buttons are only for authentication templates.")
    counts = {kind: kinds.count(kind) for kind in set(kinds)}
    for kind, limit in (
        ("URL", MAX_URL_BUTTONS),
        ("PHONE_NUMBER", MAX_PHONE_BUTTONS),
        ("COPY_CODE", MAX_COPY_CODE_BUTTONS),
    ):
        if counts.get(kind, 0) > limit:
            errors["buttons"].append(f"At most {limit} {kind.replace('_', ' ').lower()} button(s).")
    quick = [i for i, kind in enumerate(kinds) if kind == "QUICK_REPLY"]
    if quick and quick != list(range(quick[0], quick[-1] + 1)):
        errors["buttons"].append("Quick-reply buttons must be next to each other, not mixed between other buttons.")


def validate(*, name: str, category: str, parameter_format: str, components: Any) -> Errors:
    """Every rule the template breaks, by part (name, header, body, footer, buttons, components)."""
    errors: Errors = defaultdict(list)
    if not NAME.match(name or ""):
        errors["name"].append("Use only lowercase letters, digits and underscores (e.g. fatura_disponivel).")
    if len(name or "") > MAX_NAME:
        errors["name"].append(f"At most {MAX_NAME} characters.")
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        errors["components"].append("Components must be a list of objects (HEADER, BODY, FOOTER, BUTTONS).")
        return dict(errors)
    by_type: dict[str, list[dict]] = defaultdict(list)
    for component in components:
        by_type[str(component.get("type", "")).upper()].append(component)
    unknown = sorted(set(by_type) - {"HEADER", "BODY", "FOOTER", "BUTTONS"})
    if unknown:
        errors["components"].append(f"Unknown component type(s): {', '.join(unknown)}.")
    for kind in ("HEADER", "BODY", "FOOTER", "BUTTONS"):
        if len(by_type.get(kind, [])) > 1:
            errors["components"].append(f"Only one {kind.lower()} is allowed.")
    if not by_type.get("BODY"):
        errors["body"].append("The body is required.")
    else:
        _check_body(by_type["BODY"][0], parameter_format, errors)
    if by_type.get("HEADER"):
        _check_header(by_type["HEADER"][0], category, parameter_format, errors)
    if by_type.get("FOOTER"):
        text = str(by_type["FOOTER"][0].get("text", ""))
        if len(text) > MAX_FOOTER:
            errors["footer"].append(f"The footer has {len(text)} characters; the limit is {MAX_FOOTER}.")
        if ANY_VARIABLE.search(text):
            errors["footer"].append("The footer cannot have variables.")
    if by_type.get("BUTTONS"):
        _check_buttons(by_type["BUTTONS"][0].get("buttons"), category, errors)
    return dict(errors)
