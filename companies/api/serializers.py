"""API shapes of companies, channels and keys. Secret fields are write-only; reads say which are set."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from companies.models import ApiKey, Channel, Company
from config.api import StrictSerializerMixin
from config.fields import EncryptedTextField


def secret_field_names(model: type) -> list[str]:
    return [field.name for field in model._meta.get_fields() if isinstance(field, EncryptedTextField)]


def _as_drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    if hasattr(exc, "error_dict"):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError({"non_field_errors": exc.messages})


class SecretsModelSerializer(StrictSerializerMixin, serializers.ModelSerializer):
    """Encrypted fields are accepted on write, never returned; ``configured_secrets`` lists the set ones."""

    configured_secrets = serializers.SerializerMethodField(
        help_text="Names of the secret fields that hold a value (the values are never returned)."
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name in secret_field_names(self.Meta.model):
            fields[name] = serializers.CharField(
                write_only=True, required=False, allow_blank=True, max_length=4096, trim_whitespace=True
            )
        return fields

    def get_configured_secrets(self, obj: Any) -> list[str]:
        return [name for name in secret_field_names(type(obj)) if getattr(obj, name)]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Run the model's own rules (cross-field checks, conditional unique constraints)."""
        model = self.Meta.model
        candidate = model(**{**self._current_values(), **attrs, **self._context_values()})
        candidate._state.adding = self.instance is None  # so a row is not compared with itself
        try:
            candidate.clean()
        except DjangoValidationError as exc:
            raise _as_drf_error(exc) from exc
        errors: dict[str, list[str]] = {}
        for constraint in model._meta.constraints:
            try:
                constraint.validate(model, candidate)
            except DjangoValidationError as exc:
                # Conditional constraints report as non-field errors; name the field they guard.
                fields = getattr(constraint, "fields", ())
                errors.setdefault(fields[0] if len(fields) == 1 else "non_field_errors", []).extend(exc.messages)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs

    def _current_values(self) -> dict[str, Any]:
        if self.instance is None:
            return {}
        concrete = [f for f in self.Meta.model._meta.concrete_fields]
        return {f.attname: getattr(self.instance, f.attname) for f in concrete}

    def _context_values(self) -> dict[str, Any]:
        return {}


class CompanySerializer(SecretsModelSerializer):
    contract = serializers.UUIDField(
        required=False, help_text="Set on creation (defaults to a new UUID); it never changes afterwards."
    )

    class Meta:
        model = Company
        fields = [
            "contract",
            "name",
            "status",
            "inactivity_minutes",
            "support_phone",
            "timezone",
            "business_hours",
            "chatwoot_base_url",
            "chatwoot_account_id",
            "chatwoot_inbox_id",
            "chatwoot_resolve_on_inactivity",
            "chatwoot_tell_assignment",
            "erp_system",
            "erp_base_url",
            "erp_username",
            "erp_client_id",
            "erp_verify_tls",
            "billing_reminder_days",
            "billing_reminder_hour",
            "pix_key",
            "pix_key_type",
            "pix_merchant_name",
            "sms_url_template",
            "sms_username",
            "bot_enabled",
            "message_grouping_seconds",
            "max_invalid_answers",
            "bot_quiet_after_business_minutes",
            "active_channel_policy",
            "evolution_fallback_to_cloud",
            "configured_secrets",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate_contract(self, value):
        if self.instance is not None and value != self.instance.contract:
            raise serializers.ValidationError("The contract of an existing company cannot change.")
        if self.instance is None and Company.objects.filter(contract=value).exists():
            raise serializers.ValidationError("A company with this contract already exists.")
        return value


class ChannelSerializer(SecretsModelSerializer):
    class Meta:
        model = Channel
        fields = [
            "id",
            "kind",
            "name",
            "display_number",
            "is_active",
            "receives_inbound",
            "sends_notices",
            "brazil_payments",
            "api_base_url",
            "phone_number_id",
            "waba_id",
            "api_version",
            "instance_name",
            "throughput_mps",
            "send_delay_ms",
            "connection_state",
            "connection_state_changed_at",
            "configured_secrets",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "connection_state", "connection_state_changed_at", "created_at", "updated_at"]

    def validate_kind(self, value: str) -> str:
        if self.instance is not None and value != self.instance.kind:
            raise serializers.ValidationError("The kind of an existing channel cannot change; create another.")
        return value

    def _context_values(self) -> dict[str, Any]:
        company = self.context.get("company")
        return {"company_id": company.pk} if company else {}


class ApiKeySerializer(StrictSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["id", "prefix", "created_at", "last_used_at", "revoked_at"]


class NewApiKeySerializer(ApiKeySerializer):
    key = serializers.CharField(read_only=True, help_text="The key itself. It is shown only in this response.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class MeSerializer(serializers.Serializer):
    company = CompanySerializer(read_only=True)
    channels = ChannelSerializer(many=True, read_only=True)
    api_key = ApiKeySerializer(read_only=True)
