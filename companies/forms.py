"""Admin forms: secrets are write-only (never rendered back), blank keeps the stored value."""

from typing import Any

from django import forms

from config.fields import EncryptedTextField

CLEAR = object()


class SecretInput(forms.PasswordInput):
    """A password box that says whether a value is stored, with a "clear" checkbox; it never renders it."""

    template_name = "admin/widgets/secret_input.html"

    def __init__(self, attrs: dict | None = None) -> None:
        super().__init__(attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False)
        self.is_set = False

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        context["widget"]["is_set"] = self.is_set
        return context

    def value_from_datadict(self, data, files, name: str) -> Any:
        if data.get(f"{name}__clear"):
            return CLEAR
        return super().value_from_datadict(data, files, name)

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        return False


class SecretField(forms.CharField):
    widget = SecretInput

    def to_python(self, value: Any) -> Any:
        return value if value is CLEAR else super().to_python(value)

    def has_changed(self, initial: Any, data: Any) -> bool:
        # The box is always rendered empty: only typed text or "clear" is a change.
        return data is CLEAR or bool(data)


def secret_formfield(db_field: EncryptedTextField, **kwargs: Any) -> SecretField:
    return SecretField(
        required=False, label=db_field.verbose_name.capitalize(), help_text=db_field.help_text, strip=True
    )


class SecretFieldsForm(forms.ModelForm):
    """Resolves each secret field: blank keeps the stored value, "clear" empties it, text replaces it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field, SecretField):
                field.widget.is_set = bool(self.instance.pk and getattr(self.instance, name, ""))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name, field in self.fields.items():
            if not isinstance(field, SecretField) or name not in cleaned:
                continue
            value = cleaned[name]
            if value is CLEAR:
                cleaned[name] = ""
            elif not value:
                cleaned[name] = getattr(self.instance, name, "") if self.instance.pk else ""
        return cleaned
