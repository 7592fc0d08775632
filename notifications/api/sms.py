"""SMS over REST: ``POST /api/v1/sms`` queues one text for one or many numbers (202), ``GET`` reads each number's state.

Views parse, call ``notifications.sms.services.send_sms`` and render; the company is always the key's.
"""

from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from companies.idempotency import HEADER, MAX_KEY_LENGTH, KeyReused, respond_once
from companies.models import Company
from companies.permissions import IsCompanyKey
from config.api import RateLimitedMixin, StrictSerializerMixin
from config.openapi import error, error_responses
from conversations.exceptions import CompanyInactive
from notifications.models import SmsMessage, SmsRecipient
from notifications.sms import numbers, segments, services
from notifications.sms.exceptions import GatewayNotConfigured, invalid_numbers

MAX_TO_CHARS = 4000  # a comma separated string of MAX_NUMBERS formatted numbers fits


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "array",
                "items": {"type": "string", "maxLength": 40},
                "minItems": 1,
                "maxItems": numbers.MAX_NUMBERS,
            },
            {"type": "string", "minLength": 1, "maxLength": MAX_TO_CHARS},
        ],
        "description": (
            "The numbers: a list, or one string separated by commas. With the country code (5544998887777); "
            "a number without it is read as Brazilian (DDD + number). Repeats are sent once."
        ),
    }
)
class NumbersField(serializers.Field):
    """A list of numbers or a comma separated string, as normalised, checked numbers."""

    default_error_messages = {"shape": "Give a list of numbers or one string of numbers separated by commas."}

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, str) and len(data) <= MAX_TO_CHARS:
            items = numbers.split(data)
        elif isinstance(data, list) and all(_is_number_item(item) for item in data):
            items = numbers.split([str(item) for item in data])
        else:
            self.fail("shape")
        if not items:
            raise serializers.ValidationError("Give at least one number.")
        if len(items) > numbers.MAX_NUMBERS:
            raise serializers.ValidationError(f"At most {numbers.MAX_NUMBERS} numbers per request.")
        parsed = numbers.parse(items)
        if parsed.invalid:
            raise serializers.ValidationError(invalid_numbers(parsed.invalid).details["to"])
        return list(parsed.valid)

    def to_representation(self, value: Any) -> Any:
        return value


def _is_number_item(item: Any) -> bool:
    # ERP scripts send numbers as JSON numbers too; a boolean is not one.
    return (isinstance(item, str) and len(item) <= 40) or (type(item) is int and 0 <= item < 10**16)


class SendSmsSerializer(StrictSerializerMixin, serializers.Serializer):
    to = NumbersField()
    text = serializers.CharField(
        max_length=segments.MAX_GSM_CHARS,
        help_text=(
            f"At most {segments.MAX_PARTS} SMS parts: {segments.MAX_GSM_CHARS} characters of the GSM alphabet, "
            f"{segments.MAX_UCS2_CHARS} when the text has accents such as ã or ç, or emoji."
        ),
    )

    def validate_text(self, value: str) -> str:
        if problem := segments.text_problem(value):
            raise serializers.ValidationError(problem)
        return value


class SmsFilterSerializer(serializers.Serializer):
    """The query of GET /sms: a value it cannot read is a 400, not an empty page."""

    status = serializers.ChoiceField(
        choices=SmsRecipient.Status.choices, required=False, help_text="Only SMS with a number in this status."
    )
    to = serializers.CharField(max_length=40, required=False, help_text="Only SMS to this number.")

    def validate_to(self, value: str) -> str:
        if not (number := numbers.sms_number(value)):
            raise serializers.ValidationError(invalid_numbers([value]).details["to"])
        return number


class SmsRecipientSerializer(serializers.ModelSerializer):
    to = serializers.CharField(source="phone", read_only=True)

    class Meta:
        model = SmsRecipient
        fields = [
            "id",
            "to",
            "status",
            "status_at",
            "attempts",
            "next_attempt_at",
            "sent_at",
            "error_code",
            "error",
            "gateway_answer",
        ]
        read_only_fields = fields


class SmsSerializer(serializers.ModelSerializer):
    recipients = SmsRecipientSerializer(many=True, read_only=True)

    class Meta:
        model = SmsMessage
        fields = ["id", "text", "parts", "created_at", "recipients"]
        read_only_fields = fields


def company_sms(company: Company) -> QuerySet[SmsMessage]:
    recipients = Prefetch("recipients", queryset=SmsRecipient.objects.order_by("pk"))
    return SmsMessage.objects.filter(company=company).prefetch_related(recipients).order_by("-pk")


SEND_EXAMPLES = [
    OpenApiExample(
        "Several numbers",
        request_only=True,
        value={"to": ["5544998887777", "5544998886666"], "text": "Sua fatura vence amanha. Pague pelo PIX."},
    ),
    OpenApiExample(
        "Comma separated",
        request_only=True,
        value={"to": "5544998887777, (44) 99888-6666", "text": "Manutencao programada hoje das 2h as 4h."},
    ),
]
SMS_EXAMPLE = OpenApiExample(
    "SMS",
    response_only=True,
    value={
        "id": 812,
        "text": "Sua fatura vence amanha. Pague pelo PIX.",
        "parts": 1,
        "created_at": "2026-11-25T10:00:00-03:00",
        "recipients": [
            {
                "id": 1630,
                "to": "5544998887777",
                "status": "sent",
                "status_at": "2026-11-25T10:00:01-03:00",
                "attempts": 1,
                "next_attempt_at": None,
                "sent_at": "2026-11-25T10:00:01-03:00",
                "error_code": "",
                "error": "",
                "gateway_answer": "HTTP 200: OK 88123",
            },
            {
                "id": 1631,
                "to": "5544998886666",
                "status": "failed",
                "status_at": "2026-11-25T10:00:01-03:00",
                "attempts": 1,
                "next_attempt_at": None,
                "sent_at": None,
                "error_code": "gateway_error",
                "error": "The gateway refused the SMS: ERRO: saldo insuficiente",
                "gateway_answer": "HTTP 200: ERRO: saldo insuficiente",
            },
        ],
    },
)
SEND_RESPONSES = error_responses(
    415,
    specific={
        400: error(
            "Invalid input: `details` names each field; every number that is not a mobile number is listed.",
            (
                "invalid",
                "The request has invalid fields.",
                {
                    "to": [
                        "Not a mobile number: 4430300000. Give the DDD (5544998887777), and + before another "
                        "country's code."
                    ]
                },
            ),
        ),
        409: error(
            "Refused in the company's current state: nothing was queued.",
            (
                GatewayNotConfigured.code,
                GatewayNotConfigured.message,
                {"reason": "No SMS gateway URL template is set for the company."},
            ),
            (CompanyInactive.code, CompanyInactive.message),
            (KeyReused.code, KeyReused.message, {"idempotency_key": "erp-90001"}),
        ),
    },
)


class SmsListCreateView(RateLimitedMixin, generics.ListAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = SmsSerializer

    def get_queryset(self) -> QuerySet[SmsMessage]:
        queryset = company_sms(self.request.user.company)
        wanted = {name: value for name in ("status", "to") if (value := self.request.query_params.get(name))}
        filters = SmsFilterSerializer(data=wanted)
        filters.is_valid(raise_exception=True)
        fields = {"status": "status", "to": "phone"}
        if where := {fields[name]: value for name, value in filters.validated_data.items()}:
            queryset = queryset.filter(Exists(SmsRecipient.objects.filter(message=OuterRef("pk"), **where)))
        return queryset

    @extend_schema(
        summary="List the company's SMS, newest first",
        parameters=[SmsFilterSerializer],
        examples=[SMS_EXAMPLE],
        responses={200: SmsSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Send one SMS to one or many numbers (queued; 202)",
        description=(
            "Queues the text for each number through the company's SMS gateway (its URL template) and answers at "
            "once with the ids and each number's status; poll `GET /api/v1/sms/{id}`. Each number is sent by "
            "itself: `sent` when the gateway accepted it, `failed` with the gateway's words when it refused; "
            "network errors and gateway outages are retried with backoff. A number the gateway may have taken "
            "without answering is not sent again (`outcome_unknown`). Send `Idempotency-Key` to make retries "
            "safe: the same key and body never send twice, the same key with another body is a 409."
        ),
        request=SendSmsSerializer,
        parameters=[
            OpenApiParameter(
                HEADER,
                str,
                OpenApiParameter.HEADER,
                required=False,
                description=f"At most {MAX_KEY_LENGTH} characters; one per SMS you mean to send.",
            )
        ],
        examples=[*SEND_EXAMPLES, SMS_EXAMPLE],
        responses={202: SmsSerializer, **SEND_RESPONSES},
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        company = request.user.company
        return respond_once(request, company, lambda: self._send(request, company))

    def _send(self, request: Request, company: Company) -> Response:
        serializer = SendSmsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = services.send_sms(
            company=company,
            numbers=serializer.validated_data["to"],
            text=serializer.validated_data["text"],
            idempotency_key=request.headers.get(HEADER, "").strip(),
        )
        return Response(SmsSerializer(company_sms(company).get(pk=message.pk)).data, status=status.HTTP_202_ACCEPTED)


class SmsDetailView(RateLimitedMixin, generics.RetrieveAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = SmsSerializer

    def get_queryset(self) -> QuerySet[SmsMessage]:
        return company_sms(self.request.user.company)

    @extend_schema(
        summary="An SMS and the status of each of its numbers",
        examples=[SMS_EXAMPLE],
        responses={200: SmsSerializer, **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)
