"""The values a template asks of each campaign recipient, and its parameters built from them.

A field is a variable of the template: the body's (``1``, ``2``... or ``first_name``...), ``header`` for a
header with a variable or a media header (its https link), and ``button_N`` for the N-th button when it
takes a value (a URL with a variable, a copy-code button). Each field is filled from the CSV column of
its name, from the column the campaign maps it to, or from the campaign's fixed value for everyone.
"""

from dataclasses import dataclass
from typing import Any

from templates_meta import rules
from templates_meta.models import Template


@dataclass(frozen=True)
class Fields:
    body: tuple[str, ...]
    header: bool
    header_media: bool  # the header is a file: its value is an https link
    buttons: tuple[int, ...]  # the indexes of the buttons that take a value
    button_count: int
    named: bool

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.body, *(("header",) if self.header else ()), *(f"button_{i + 1}" for i in self.buttons))


def template_fields(template: Template) -> Fields:
    body = template.component("BODY") or {}
    names = tuple(dict.fromkeys(rules.variables(str(body.get("text", "")), template.parameter_format)))
    header = template.component("HEADER") or {}
    fmt = str(header.get("format", "")).upper()
    has_header = fmt in rules.MEDIA_HEADERS or (
        fmt == "TEXT" and bool(rules.variables(str(header.get("text", "")), template.parameter_format))
    )
    buttons = (template.component("BUTTONS") or {}).get("buttons") or []
    takes_value = tuple(
        index
        for index, button in enumerate(buttons)
        if (str(button.get("type", "")).upper() == "URL" and rules.ANY_VARIABLE.search(str(button.get("url", ""))))
        or str(button.get("type", "")).upper() == "COPY_CODE"
    )
    return Fields(
        body=names,
        header=has_header,
        header_media=fmt in rules.MEDIA_HEADERS,
        buttons=takes_value,
        button_count=len(buttons),
        named=template.parameter_format == Template.ParameterFormat.NAMED,
    )


def parameters(fields: Fields, values: dict[str, str]) -> Any:
    """``fill_template``'s parameters for one recipient's ``values`` (field → value)."""
    # A value missing is sent blank, for fill_template to refuse with the field it lacks.
    body: Any = (
        {n: values.get(n, "") for n in fields.body} if fields.named else [values.get(n, "") for n in fields.body]
    )
    if not fields.header and not fields.buttons:
        return body
    given: dict[str, Any] = {"body": body}
    if fields.header:
        given["header"] = values.get("header", "")
    if fields.buttons:
        given["buttons"] = [values.get(f"button_{i + 1}", "") for i in range(fields.button_count)]
    return given
