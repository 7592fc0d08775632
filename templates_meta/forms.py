"""Admin forms for templates: a JSON editor with a live WhatsApp preview, checked with Meta's rules."""

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from companies.wabas import cloud_wabas
from templates_meta import rules
from templates_meta.models import Template, TemplatePurpose

# rules.validate reports by part; all parts but the name live in the components box.
PART_LABELS = {"header": "Header", "body": "Body", "footer": "Footer", "buttons": "Buttons", "components": ""}


class ComponentsEditor(forms.Textarea):
    """The components as JSON, with helper buttons, a syntax check and a phone-like preview (editor.js)."""

    template_name = "templates_meta/widgets/components_editor.html"

    class Media:
        css = {"all": ["templates_meta/editor.css"]}
        js = ["templates_meta/editor.js"]

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        defaults = {"rows": 24, "cols": 70, "spellcheck": "false", "class": "tm-json", "data-tm-json": ""}
        super().__init__({**defaults, **(attrs or {})})


class ComponentsField(forms.JSONField):
    """JSON that says where it is broken, shown indented so a person can edit it."""

    widget = ComponentsEditor

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip():
            try:
                json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValidationError(
                    "This is not valid JSON: %(problem)s (line %(line)s, column %(column)s). "
                    "Use the Tidy button to find it, and double quotes around every text.",
                    code="invalid",
                    params={"problem": exc.msg, "line": exc.lineno, "column": exc.colno},
                ) from None
        value = super().to_python(value)
        return [] if value is None else value

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, cls=self.encoder)


class TemplateForm(forms.ModelForm):
    class Meta:
        model = Template
        fields = ["company", "waba_id", "name", "language", "category", "parameter_format", "components"]
        field_classes = {"components": ComponentsField}
        help_texts = {
            "waba_id": "Leave empty to use the WABA of the company's Cloud API channel (choose one if it has several).",
            "language": "Meta's code, e.g. pt_BR, en_US, es.",
            "components": "HEADER, BODY, FOOTER and BUTTONS as Meta expects them. Every variable needs an example "
            "value; the preview shows the message with them.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "waba_id" in self.fields:
            self.fields["waba_id"].required = False
        if "components" in self.fields:
            self.fields["components"].required = False

    def _value(self, name: str) -> Any:
        # Read-only fields (name and language once Meta knows the template) are not in cleaned_data.
        return self.cleaned_data.get(name, getattr(self.instance, name, None))

    def _clean_waba(self) -> None:
        company = self.cleaned_data.get("company")
        if "waba_id" not in self.fields or company is None:
            return
        wabas = cloud_wabas(company.channels.all())
        waba_id = (self.cleaned_data.get("waba_id") or "").strip()
        if not waba_id and not wabas:
            return  # an Evolution-only company: the template is rendered as text, never submitted to Meta
        if not wabas:
            self.add_error("waba_id", f"{company} has no Cloud API channel with a WABA id, so this WABA is not its.")
        elif not waba_id and len(wabas) > 1:
            self.add_error("waba_id", f"{company} has several WABAs; choose one: {', '.join(wabas)}.")
        elif not waba_id:
            self.cleaned_data["waba_id"] = wabas[0]
        elif waba_id not in wabas:
            self.add_error("waba_id", f"This is not a WABA of {company}'s Cloud API channels ({', '.join(wabas)}).")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        self._clean_waba()
        if self.has_error("components"):
            return cleaned  # broken JSON: its own message says where
        errors = rules.validate(
            name=self._value("name") or "",
            category=self._value("category") or "",
            parameter_format=self._value("parameter_format") or "",
            components=self._value("components"),
        )
        for part, messages in errors.items():
            field = "name" if part == "name" and "name" in self.fields else "components"
            label = PART_LABELS.get(part, part.capitalize())
            for message in messages:
                self.add_error(field, f"{label}: {message}" if label and field == "components" else message)
        return cleaned


class TemplatePurposeForm(forms.ModelForm):
    """Purposes point at an approved template of the same company (the current one stays selectable)."""

    class Meta:
        model = TemplatePurpose
        fields = ["company", "purpose", "template", "parameters"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields.get("template")
        if field is None:
            return
        # The company is known when editing, after a failed POST, or from ?company= on the add page.
        company_id = self.instance.company_id or self.data.get("company") or self.initial.get("company")
        approved = Template.objects.filter(status=Template.Status.APPROVED)
        if str(company_id or "").isdigit():
            approved = approved.filter(company_id=company_id)
            field.label_from_instance = lambda t: f"{t.name} ({t.language}) · {t.get_status_display()}"
        else:
            field.label_from_instance = lambda t: f"{t.name} ({t.language}) · {t.get_status_display()} · {t.company}"
        current = Template.objects.filter(pk=self.instance.template_id) if self.instance.template_id else None
        queryset = (approved | current) if current is not None else approved
        field.queryset = queryset.select_related("company").order_by("name", "language")
        field.help_text = "Approved templates of this company. Only an approved template is sent."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        company, template = cleaned.get("company"), cleaned.get("template")
        if company and template and template.company_id != company.pk:
            self.add_error("template", f"This template belongs to {template.company}, not {company}.")
        parameters = cleaned.get("parameters")
        if parameters is None and "parameters" in cleaned:  # an empty box: nothing to fill yet
            parameters = cleaned["parameters"] = []
        if parameters is not None and not isinstance(parameters, list | dict):
            self.add_error("parameters", 'Give a list, e.g. ["{customer_name}", "{amount}"], or an object by part.')
        elif (
            template
            and isinstance(parameters, list)
            and template.parameter_format == Template.ParameterFormat.POSITIONAL
        ):
            body = template.component("BODY") or {}
            expected = len(set(rules.variables(str(body.get("text", "")), template.parameter_format)))
            if len(parameters) != expected:
                self.add_error(
                    "parameters", f"The template's body has {expected} variable(s); give {expected} value(s)."
                )
        return cleaned
