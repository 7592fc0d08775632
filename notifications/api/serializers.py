"""API shapes of outbound messages: one of text, media, location or template, to one number."""

import copy
from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from companies.phones import normalize_phone
from config.api import StrictSerializerMixin
from conversations.models import Message, MessageStatusChange
from conversations.whatsapp import content as contents

CONTENT_FIELDS = ("text", "media", "location", "template")


class MediaSerializer(StrictSerializerMixin, serializers.Serializer):
    """An image, video, audio, document or sticker, fetched by WhatsApp from ``url``."""

    kind = serializers.ChoiceField(choices=contents.MEDIA_KINDS)
    url = serializers.URLField(max_length=2000)
    caption = serializers.CharField(max_length=1024, required=False, allow_blank=True, default="")
    filename = serializers.CharField(max_length=240, required=False, allow_blank=True, default="")


class LocationSerializer(StrictSerializerMixin, serializers.Serializer):
    """A map pin."""

    latitude = serializers.FloatField(min_value=-90, max_value=90)
    longitude = serializers.FloatField(min_value=-180, max_value=180)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


@extend_schema_field({"oneOf": [{"type": "array", "items": {}}, {"type": "object", "additionalProperties": {}}]})
class TemplateParametersField(serializers.JSONField):
    """A list or an object of values (``validate_parameters``)."""


class TemplateSerializer(StrictSerializerMixin, serializers.Serializer):
    """An approved template of the company, by name and language, with its values."""

    name = serializers.RegexField(r"^[a-z0-9_]{1,512}$", help_text="The approved template's name.")
    language = serializers.CharField(max_length=15, default="pt_BR")
    parameters = TemplateParametersField(
        required=False,
        default=list,
        help_text=(
            'Body values in order (["Maria", "R$ 99,90"]), by name for named templates ({"first_name": "Maria"}), '
            'or {"header": …, "body": […], "buttons": […]} when the header or buttons take values too.'
        ),
    )

    def validate_parameters(self, value: Any) -> Any:
        if not isinstance(value, list | dict):
            raise serializers.ValidationError("Give a list of values or an object.")
        return value


class SendMessageSerializer(StrictSerializerMixin, serializers.Serializer):
    to = serializers.CharField(max_length=32, help_text="The recipient's phone, with country code: 5544998887777.")
    channel = serializers.IntegerField(
        required=False, help_text="A channel id of the company; by default the company's notice channel."
    )
    text = serializers.CharField(max_length=4096, required=False, allow_blank=False)
    media = MediaSerializer(required=False)
    location = LocationSerializer(required=False)
    template = TemplateSerializer(required=False)

    def validate_to(self, value: str) -> str:
        phone = normalize_phone(value)
        if not phone:
            raise serializers.ValidationError("Not a phone number: use the country code, e.g. 5544998887777.")
        return phone

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [name for name in CONTENT_FIELDS if name in attrs]
        if len(given) != 1:
            message = "Give exactly one of text, media, location or template."
            raise serializers.ValidationError({name: [message] for name in (given or CONTENT_FIELDS)})
        return attrs

    def content(self) -> dict[str, Any]:
        data = self.validated_data
        if "text" in data:
            return contents.text(data["text"])
        if "media" in data:
            media = data["media"]
            return contents.media(media["kind"], url=media["url"], caption=media["caption"], filename=media["filename"])
        if "location" in data:
            where = data["location"]
            return contents.location(
                where["latitude"], where["longitude"], name=where["name"], address=where["address"]
            )
        template = data["template"]
        return contents.template_request(template["name"], template["language"], template["parameters"])


def _send_variant(content: str) -> type[serializers.Serializer]:
    """For the schema: a send whose content is ``content`` (required), as SendMessageSerializer checks it."""
    declared = SendMessageSerializer._declared_fields
    fields = {name: copy.deepcopy(declared[name]) for name in ("to", "channel")}
    field = declared[content]  # fields are copied from their arguments: required must be one of them
    fields[content] = type(field)(*field._args, **{**field._kwargs, "required": True})
    doc = f"A message with `{content}` (and none of the other contents)."
    attrs = {**fields, "__module__": __name__, "__doc__": doc}
    return type(f"Send{content.title()}Message", (StrictSerializerMixin, serializers.Serializer), attrs)


# The request body of POST /messages: exactly one of the content fields (each variant refuses the others).
SEND_MESSAGE_REQUEST = PolymorphicProxySerializer(
    component_name="SendMessage",
    serializers=[_send_variant(content) for content in CONTENT_FIELDS],
    resource_type_field_name=None,
)


class MessageFilterSerializer(serializers.Serializer):
    """The query of GET /messages: a status not in the list is a 400, not an empty page."""

    status = serializers.ChoiceField(
        choices=Message.Status.choices, required=False, help_text="Only messages in this status."
    )


class StatusChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageStatusChange
        fields = ["status", "at", "error_code", "error_title", "applied"]


class MessageSerializer(serializers.ModelSerializer):
    to = serializers.SerializerMethodField()
    channel = serializers.IntegerField(source="channel_id", read_only=True)
    history = StatusChangeSerializer(source="status_changes", many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "to",
            "channel",
            "direction",
            "type",
            "text",
            "status",
            "status_at",
            "error_code",
            "error_reason",
            "attempts",
            "next_attempt_at",
            "provider_id",
            "pricing_category",
            "created_at",
            "history",
        ]
        read_only_fields = fields

    def get_to(self, obj: Message) -> str:
        return obj.contact.phone or obj.contact.user_id
