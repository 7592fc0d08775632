"""Single messages over REST (the notices API of ISP systems): send one (202, queued), read its history, retry.

Views parse, call the one door out (``conversations.services.outbound``) and render.
"""

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from companies.idempotency import MAX_KEY_LENGTH, KeyReused, respond_once
from companies.permissions import IsCompanyKey
from config.api import RateLimitedMixin
from config.openapi import error, error_responses
from conversations.exceptions import ChannelNotUsable, CompanyInactive, NoChannel, NotRetryable, WindowClosed
from conversations.models import Message, MessageStatusChange
from conversations.services import outbound
from notifications.api.serializers import (
    CONTENT_FIELDS,
    SEND_MESSAGE_REQUEST,
    MessageFilterSerializer,
    MessageSerializer,
    SendMessageSerializer,
)
from templates_meta.exceptions import TemplateNotUsable

SEND_EXAMPLES = [
    OpenApiExample(
        "Text", request_only=True, value={"to": "5544998887777", "text": "Olá! Sua fatura já está disponível."}
    ),
    OpenApiExample(
        "Document by URL",
        request_only=True,
        value={
            "to": "5544998887777",
            "media": {"kind": "document", "url": "https://erp.example.com/boleto/90001.pdf", "filename": "boleto.pdf"},
        },
    ),
    OpenApiExample(
        "Location",
        request_only=True,
        value={"to": "5544998887777", "location": {"latitude": -23.4205, "longitude": -51.9331, "name": "Loja Centro"}},
    ),
    OpenApiExample(
        "Template",
        request_only=True,
        value={
            "to": "5544998887777",
            "template": {"name": "fatura_disponivel", "language": "pt_BR", "parameters": ["Maria", "R$ 99,90"]},
        },
    ),
]
MESSAGE_EXAMPLE = OpenApiExample(
    "Queued message",
    response_only=True,
    value={
        "id": 4242,
        "to": "5544998887777",
        "channel": 1,
        "direction": "out",
        "type": "text",
        "text": "Olá! Sua fatura já está disponível.",
        "status": "delivered",
        "status_at": "2026-11-25T10:00:03-03:00",
        "error_code": "",
        "error_reason": "",
        "attempts": 1,
        "next_attempt_at": "2026-11-25T10:00:00-03:00",
        "provider_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
        "pricing_category": "utility",
        "created_at": "2026-11-25T10:00:00-03:00",
        "history": [
            {
                "status": "queued",
                "at": "2026-11-25T10:00:00-03:00",
                "error_code": "",
                "error_title": "",
                "applied": True,
            },
            {"status": "sent", "at": "2026-11-25T10:00:01-03:00", "error_code": "", "error_title": "", "applied": True},
            {
                "status": "delivered",
                "at": "2026-11-25T10:00:03-03:00",
                "error_code": "",
                "error_title": "",
                "applied": True,
            },
        ],
    },
)


SEND_RESPONSES = error_responses(
    415,
    specific={
        400: error(
            "Invalid input: `details` names each field. Exactly one of `text`, `media`, `location` or "
            "`template` is given, else each is named.",
            (
                "invalid",
                "The request has invalid fields.",
                {name: ["Give exactly one of text, media, location or template."] for name in CONTENT_FIELDS},
            ),
        ),
        409: error(
            "Refused in the current state: nothing was queued.",
            (WindowClosed.code, WindowClosed.message, {"contact": "5544998887777", "channel": 1}),
            (NoChannel.code, NoChannel.message),
            (CompanyInactive.code, CompanyInactive.message),
            (KeyReused.code, KeyReused.message, {"idempotency_key": "erp-90001"}),
        ),
        422: error(
            "The template cannot be sent: unknown for the channel's WhatsApp account, not approved, or the "
            "parameters do not fit it (`details` says which).",
            (
                TemplateNotUsable.code,
                "No template 'fatura_disponivel' in pt_BR for this company's WhatsApp account.",
                {"template": ["fatura_disponivel"]},
            ),
        ),
    },
)
RETRY_RESPONSES = error_responses(
    404,
    specific={
        409: error(
            "The message is not failed or cancelled.",
            (NotRetryable.code, NotRetryable.message, {"status": "delivered"}),
        )
    },
)


def company_messages(company):
    history = Prefetch("status_changes", queryset=MessageStatusChange.objects.order_by("created_at", "pk"))
    return (
        Message.objects.filter(company=company, direction=Message.Direction.OUTBOUND)
        .select_related("contact")
        .prefetch_related(history)
        .order_by("-pk")
    )


class MessageListCreateView(RateLimitedMixin, generics.ListAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = MessageSerializer

    def get_queryset(self):
        queryset = company_messages(self.request.user.company)
        wanted = self.request.query_params.get("status")
        filters = MessageFilterSerializer(data={"status": wanted} if wanted else {})  # "?status=": every one
        filters.is_valid(raise_exception=True)
        if "status" in filters.validated_data:
            queryset = queryset.filter(status=filters.validated_data["status"])
        return queryset

    @extend_schema(
        summary="List the company's outbound messages, newest first",
        parameters=[MessageFilterSerializer],
        examples=[MESSAGE_EXAMPLE],
        responses={200: MessageSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Send one message (queued; 202)",
        description=(
            "Stores the message in the outbox and answers at once with its id; poll `GET /api/v1/messages/{id}`. "
            "Send `Idempotency-Key` to make retries safe: the same key and body never send twice, the same key "
            "with another body is a 409. A free-form message (not a template) to a WhatsApp Cloud contact whose "
            "last message is older than 24 hours is refused with 409 `window_closed`."
        ),
        request=SEND_MESSAGE_REQUEST,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                required=False,
                description=f"At most {MAX_KEY_LENGTH} characters; one per message you mean to send.",
            )
        ],
        examples=[*SEND_EXAMPLES, MESSAGE_EXAMPLE],
        responses={202: MessageSerializer, **SEND_RESPONSES},
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        company = request.user.company
        return respond_once(request, company, lambda: self._send(request, company))

    def _send(self, request: Request, company) -> Response:
        serializer = SendMessageSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        channel = None
        if (channel_id := serializer.validated_data.get("channel")) is not None:
            channel = company.channels.filter(pk=channel_id).first()
            if channel is None:
                raise ChannelNotUsable
        message = outbound.send_message(
            company=company,
            to=serializer.validated_data["to"],
            content=serializer.content(),
            channel=channel,
            author=Message.Author.BUSINESS,
            purpose=Message.Purpose.NOTICE,
        )
        return Response(
            MessageSerializer(company_messages(company).get(pk=message.pk)).data, status=status.HTTP_202_ACCEPTED
        )


class MessageDetailView(RateLimitedMixin, generics.RetrieveAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = MessageSerializer

    def get_queryset(self):
        return company_messages(self.request.user.company)

    @extend_schema(
        summary="A message's status and its history",
        examples=[MESSAGE_EXAMPLE],
        responses={200: MessageSerializer, **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class MessageRetryView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="Queue a failed or cancelled message again",
        request=None,
        examples=[MESSAGE_EXAMPLE],
        responses={202: MessageSerializer, **RETRY_RESPONSES},
    )
    def post(self, request: Request, pk: int) -> Response:
        message = company_messages(request.user.company).filter(pk=pk).first()
        if message is None:
            raise Http404
        if not outbound.retry_message(message=message):
            raise NotRetryable(details={"status": message.status})
        return Response(MessageSerializer(company_messages(request.user.company).get(pk=pk)).data, status=202)
