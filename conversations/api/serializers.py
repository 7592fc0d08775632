"""API shapes of contacts, sessions, messages and tags, and of the bodies that pause the bot or tag a session.

Nothing secret leaves here: no provider payloads, no media URLs; CPF/CNPJ (a customer's document, or one a
customer typed) shown masked.
"""

import datetime as dt
import zoneinfo
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api import StrictSerializerMixin
from config.masking import mask_document
from conversations.message_text import filename, readable_text
from conversations.models import Contact, CustomerLink, Message, MessageStatusChange, Session, Tag

PAUSE_MAX_MINUTES = 7 * 24 * 60


class CustomerSerializer(serializers.ModelSerializer):
    """The ERP customer a contact is linked to; the CPF/CNPJ masked."""

    code = serializers.CharField(source="customer_code", read_only=True)
    document = serializers.SerializerMethodField(help_text="CPF or CNPJ, masked: 529.***.***-25.")

    class Meta:
        model = CustomerLink
        fields = ["code", "name", "document", "confirmed"]
        read_only_fields = fields

    def get_document(self, obj: CustomerLink) -> str:
        return mask_document(obj.document) if obj.document else ""


class ContactSerializer(serializers.ModelSerializer):
    window_open = serializers.BooleanField(read_only=True, help_text="Inside the 24 h customer service window.")
    open_session = serializers.IntegerField(
        source="open_session_id", read_only=True, allow_null=True, help_text="The id of its open session, if any."
    )
    customers = CustomerSerializer(source="customer_links", many=True, read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "phone",
            "name",
            "saved_name",
            "username",
            "user_id",
            "last_inbound_at",
            "window_open",
            "chatwoot_contact_id",
            "open_session",
            "customers",
            "created_at",
        ]
        read_only_fields = fields


class SessionSerializer(serializers.ModelSerializer):
    contact = serializers.IntegerField(source="contact_id", read_only=True)
    customer = CustomerSerializer(read_only=True, allow_null=True)
    tags = serializers.SerializerMethodField(help_text="Tag names, in alphabetical order.")
    bot_paused = serializers.SerializerMethodField(help_text="The bot answers nothing now (until bot_paused_until).")
    is_open = serializers.BooleanField(read_only=True)
    close_reason = serializers.ChoiceField(
        choices=Session.CloseReason.choices, allow_blank=True, read_only=True, help_text="Empty while it is open."
    )

    class Meta:
        model = Session
        fields = [
            "id",
            "contact",
            "protocol",
            "state",
            "handoff",
            "handed_off_at",
            "chatwoot_conversation_id",
            "bot_paused",
            "bot_paused_until",
            "customer",
            "tags",
            "is_open",
            "created_at",
            "last_activity_at",
            "closed_at",
            "close_reason",
        ]
        read_only_fields = fields

    def get_tags(self, obj: Session) -> list[str]:
        return [tag.name for tag in obj.tags.all()]

    def get_bot_paused(self, obj: Session) -> bool:
        return is_paused(obj.bot_paused_until)


def is_paused(until: dt.datetime | None) -> bool:
    return until is not None and until > timezone.now()


class MessageStatusEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageStatusChange
        fields = ["status", "at", "error_code", "error_title", "applied"]
        read_only_fields = fields


class AttachmentSerializer(serializers.Serializer):
    """What is known of a message's file; never where it is stored."""

    status = serializers.ChoiceField(
        choices=[c for c in Message.MediaStatus.values if c],
        help_text="pending (downloading), stored, quarantined (refused by the safety check), failed.",
    )
    mime_type = serializers.CharField(help_text="Detected from the bytes once stored.")
    size = serializers.IntegerField(allow_null=True)
    filename = serializers.CharField()
    rejection = serializers.CharField(help_text="Why it was quarantined.")


class ConversationMessageSerializer(serializers.ModelSerializer):
    session = serializers.IntegerField(source="session_id", read_only=True, allow_null=True)
    contact = serializers.IntegerField(source="contact_id", read_only=True)
    channel = serializers.IntegerField(source="channel_id", read_only=True, allow_null=True)
    text = serializers.SerializerMethodField(
        help_text="What it says (an attachment without a caption: [image], [document: boleto.pdf], …); CPF/CNPJ masked."
    )
    attachment = serializers.SerializerMethodField()
    history = MessageStatusEntrySerializer(source="status_changes", many=True, read_only=True)

    class Meta:
        model = Message
        fields = [
            "id",
            "session",
            "contact",
            "channel",
            "direction",
            "author",
            "type",
            "text",
            "status",
            "status_at",
            "error_code",
            "error_reason",
            "provider_id",
            "attachment",
            "created_at",
            "history",
        ]
        read_only_fields = fields

    def get_text(self, obj: Message) -> str:
        return readable_text(obj)

    @extend_schema_field(AttachmentSerializer(allow_null=True))
    def get_attachment(self, obj: Message) -> dict[str, Any] | None:
        if not obj.media_status:
            return None
        return {
            "status": obj.media_status,
            "mime_type": obj.media_mime,
            "size": obj.media_size,
            "filename": filename(obj),
            "rejection": obj.media_rejection,
        }


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "created_at"]
        read_only_fields = fields


class TimelineSerializer(serializers.Serializer):
    contact = ContactSerializer()
    sessions = SessionSerializer(many=True, help_text="Its newest sessions first.")
    messages = ConversationMessageSerializer(many=True, help_text="Its messages, oldest first (the newest `limit`).")
    limit = serializers.IntegerField()
    sessions_truncated = serializers.BooleanField(
        help_text="It has more sessions than `limit`: the oldest are left out."
    )
    messages_truncated = serializers.BooleanField(
        help_text="It has more messages than `limit`: the oldest are left out."
    )


class BotStateSerializer(serializers.Serializer):
    contact = serializers.IntegerField()
    session = serializers.IntegerField(allow_null=True, help_text="The contact's open session (none to resume).")
    protocol = serializers.CharField(allow_null=True)
    bot_paused = serializers.BooleanField()
    bot_paused_until = serializers.DateTimeField(allow_null=True)


class PauseBotSerializer(StrictSerializerMixin, serializers.Serializer):
    ttl_minutes = serializers.IntegerField(
        min_value=1, max_value=PAUSE_MAX_MINUTES, required=False, help_text="Pause for this many minutes (1 to 7 days)."
    )
    until = serializers.DateTimeField(
        required=False, help_text="Pause until then: in the future, at most 7 days away (no offset: company's zone)."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if tz := self.context.get("timezone"):  # the company's: a time without an offset is theirs
            self.fields["until"].timezone = zoneinfo.ZoneInfo(tz)

    def validate_until(self, value: dt.datetime) -> dt.datetime:
        now = timezone.now()
        if value <= now:
            raise serializers.ValidationError("Give a time in the future.")
        if value > now + dt.timedelta(minutes=PAUSE_MAX_MINUTES):
            raise serializers.ValidationError("At most 7 days from now.")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs) != 1:
            message = "Give exactly one of ttl_minutes or until."
            raise serializers.ValidationError({name: [message] for name in (attrs or ("ttl_minutes", "until"))})
        return attrs

    def paused_until(self) -> dt.datetime:
        if "until" in self.validated_data:
            return self.validated_data["until"]
        return timezone.now() + dt.timedelta(minutes=self.validated_data["ttl_minutes"])


def tag_name_field(**kwargs: Any) -> serializers.RegexField:
    return serializers.RegexField(
        r"^[^/\x00-\x1f\x7f]+$",
        max_length=50,
        error_messages={"invalid": "A tag name has no slash and no control characters."},
        help_text="1 to 50 characters, no slash; case matters (VIP and vip are two tags).",
        **kwargs,
    )


class TagCreateSerializer(StrictSerializerMixin, serializers.Serializer):
    name = tag_name_field()


class SessionTagsSerializer(StrictSerializerMixin, serializers.Serializer):
    tags = serializers.ListField(
        child=tag_name_field(), min_length=1, max_length=50, help_text="Tag names; unknown ones are created."
    )
