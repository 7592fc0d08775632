"""Contract and billing notices over REST: ``POST`` one (202 with ids), ``GET`` it with each recipient's status.

Views parse, call ``notifications.notices.services`` and render; the ERP's failures arrive as the
service's refusals (404 unknown customer, 503 ERP down, 502 ERP answering garbage), nothing accepted.
"""

from typing import Any

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from companies.idempotency import MAX_KEY_LENGTH, KeyReused, respond_once
from companies.permissions import IsCompanyKey
from config.api import RateLimitedMixin, StrictSerializerMixin
from config.exceptions import DomainError
from config.openapi import error, error_responses
from conversations.exceptions import CompanyInactive, NoChannel
from conversations.models import Message
from notifications import exceptions
from notifications.models import Notice, NoticeRecipient
from notifications.notices import services

EVENTS = ", ".join(Notice.Event.values)
# Progress of a message, to say how far each recipient got: its least advanced message.
PROGRESS = [Message.Status.QUEUED, Message.Status.SENDING, Message.Status.SENT, Message.Status.DELIVERED]
PROGRESS.append(Message.Status.READ)


class UnknownEvent(DomainError):
    status = 422
    code = "unknown_event"
    message = f"Unknown contract event: use one of {EVENTS}."


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=f"At most {MAX_KEY_LENGTH} characters; the same key and body never send twice.",
)


class CodeField(serializers.CharField):
    """An ERP code, given as a number or a string (``123456`` or ``"123456"``)."""

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        return super().to_internal_value(str(data))


class SeedKeysMixin:
    """The seed's Portuguese keys (``Cliente``, ``Contrato``, ``Evento``) are accepted as the English ones."""

    aliases = {"Cliente": "customer", "Contrato": "contract", "Evento": "event", "Faturas": "invoices"}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            data = {self.aliases.get(key, key): value for key, value in data.items()}
        return super().to_internal_value(data)


class ContractEventSerializer(SeedKeysMixin, StrictSerializerMixin, serializers.Serializer):
    customer = CodeField(max_length=64, help_text="The customer's code in the ERP (the seed's `Cliente`).")
    contract = CodeField(max_length=64, required=False, default="", help_text="The contract's id (`Contrato`).")
    event = serializers.CharField(max_length=32, help_text=f"One of {EVENTS} (`Evento`).")

    def validate_event(self, value: str) -> str:
        event = value.strip().upper()
        if event not in Notice.Event.values:
            raise UnknownEvent(details={"event": value, "allowed": Notice.Event.values})
        return event


class BillingSerializer(SeedKeysMixin, StrictSerializerMixin, serializers.Serializer):
    customer = CodeField(max_length=64, help_text="The customer's code in the ERP.")
    contract = CodeField(max_length=64, required=False, default="", help_text="Only this contract's invoices.")
    invoices = serializers.ListField(
        child=CodeField(max_length=64),
        required=False,
        default=list,
        max_length=50,
        help_text="Only these open invoices (ids in the ERP).",
    )


class NoticeMessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "type", "text", "status", "status_at", "error_code", "error_reason"]
        read_only_fields = fields


class RecipientSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()
    messages = NoticeMessageSerializer(many=True, read_only=True)

    class Meta:
        model = NoticeRecipient
        fields = ["phone", "status", "failure", "messages"]
        read_only_fields = fields

    def get_status(self, obj: NoticeRecipient) -> str:
        """``failed`` if any message failed (or none could be queued), else how far the least advanced got."""
        messages = list(obj.messages.all())
        if obj.failure or not messages:
            return Message.Status.FAILED
        if any(m.status in (Message.Status.FAILED, Message.Status.CANCELLED) for m in messages):
            return Message.Status.FAILED
        return min((m.status for m in messages), key=PROGRESS.index)


class NoticeSerializer(serializers.ModelSerializer):
    customer = serializers.CharField(source="customer_code", read_only=True)
    contract = serializers.CharField(source="contract_id", read_only=True)
    invoices = serializers.JSONField(source="invoice_ids", read_only=True)
    recipients = RecipientSerializer(many=True, read_only=True)

    class Meta:
        model = Notice
        fields = [
            "id",
            "kind",
            "customer",
            "customer_name",
            "contract",
            "event",
            "invoices",
            "created_at",
            "recipients",
        ]
        read_only_fields = fields


NOTICE_EXAMPLE = OpenApiExample(
    "Contract blocked",
    response_only=True,
    value={
        "id": 17,
        "kind": "contract_event",
        "customer": "1002",
        "customer_name": "João Pereira",
        "contract": "5002",
        "event": "BLOCK",
        "invoices": [],
        "created_at": "2026-12-04T09:00:00-03:00",
        "recipients": [
            {
                "phone": "5544997770000",
                "status": "delivered",
                "failure": "",
                "messages": [
                    {
                        "id": 4242,
                        "type": "text",
                        "text": "Olá João Pereira, seu contrato foi Bloqueado em nossa base, para regularização "
                        "entre em contato com a gente pelo telefone (44) 98888-8888",
                        "status": "delivered",
                        "status_at": "2026-12-04T09:00:04-03:00",
                        "error_code": "",
                        "error_reason": "",
                    }
                ],
            },
            {"phone": "", "status": "failed", "failure": services.NO_NUMBER, "messages": []},
        ],
    },
)


class NothingOpenSerializer(serializers.Serializer):
    """No open invoice: nothing was sent."""

    sent = serializers.BooleanField()
    message = serializers.CharField()
    customer = serializers.CharField()


NOTHING_OPEN = {"sent": False, "message": "The customer has no open invoice: nothing was sent.", "customer": "1001"}

ERP_ERRORS = {
    404: error(
        "The ERP has no such customer (or, for billing, the invoices named are not open).",
        (exceptions.CustomerNotFound.code, exceptions.CustomerNotFound.message, {"customer": "999999"}),
        (exceptions.InvoiceNotFound.code, exceptions.InvoiceNotFound.message, {"invoices": ["90009"]}),
    ),
    409: error(
        "Nothing could be sent: no ERP set up, no channel, an inactive company, or a reused Idempotency-Key.",
        (exceptions.ErpNotConfigured.code, exceptions.ErpNotConfigured.message),
        (NoChannel.code, NoChannel.message),
        (CompanyInactive.code, CompanyInactive.message),
        (KeyReused.code, KeyReused.message, {"idempotency_key": "erp-block-5002"}),
    ),
    502: error(
        "The ERP answered, but not an answer (credentials refused, an error page): nothing was sent.",
        (exceptions.ErpFailed.code, exceptions.ErpFailed.message, {"reason": "IXC answered an HTML page."}),
    ),
    503: error(
        "The ERP could not be reached: nothing was sent; try again after Retry-After seconds.",
        (exceptions.ErpUnavailable.code, exceptions.ErpUnavailable.message, {"reason": "IXC did not answer in time."}),
    ),
}


def company_notices(company) -> Any:
    recipients = Prefetch(
        "recipients",
        queryset=NoticeRecipient.objects.order_by("pk").prefetch_related(
            Prefetch("messages", queryset=Message.objects.order_by("pk"))
        ),
    )
    return Notice.objects.filter(company=company).prefetch_related(recipients).order_by("-pk")


def _accepted(company, notice: Notice) -> Response:
    return Response(NoticeSerializer(company_notices(company).get(pk=notice.pk)).data, status=status.HTTP_202_ACCEPTED)


class ContractEventView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="Tell a customer their contract changed (202; one recipient per WhatsApp number)",
        description=(
            "The customer's name and numbers come from the ERP by code. The text is "
            "`Olá {name}, seu contrato foi {word} em nossa base` and, for BLOCK, CANCEL and BANDWIDTH_LIMIT, "
            "`, para regularização entre em contato com a gente pelo telefone {support phone}`. On Evolution the "
            "text goes; on the Cloud API the template the company chose for the event. A customer without a "
            "WhatsApp number is accepted with that recipient failed and why."
        ),
        request=ContractEventSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample("Block", request_only=True, value={"customer": 1002, "contract": 5002, "event": "BLOCK"}),
            OpenApiExample(
                "The seed's keys", request_only=True, value={"Cliente": 1002, "Contrato": 5002, "Evento": "UNBLOCK"}
            ),
            NOTICE_EXAMPLE,
        ],
        responses={
            202: NoticeSerializer,
            **error_responses(415, specific=ERP_ERRORS),
            422: error("An event not in the list.", (UnknownEvent.code, UnknownEvent.message, {"event": "PAUSE"})),
        },
    )
    def post(self, request: Request) -> Response:
        company = request.user.company
        return respond_once(request, company, lambda: self._notify(request, company))

    def _notify(self, request: Request, company) -> Response:
        serializer = ContractEventSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        notice = services.notify_contract_event(
            company=company, customer_code=data["customer"], contract_id=data["contract"], event=data["event"]
        )
        return _accepted(company, notice)


class BillingView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="Send a customer their open invoices: boleto, digitable line and PIX (202)",
        description=(
            "Fetches the customer's open invoices from the ERP (optionally one contract's, or the invoices "
            "named) and sends each one's due date and amount, the digitable line, the PIX copy-and-paste code "
            "as its own message (a tap-to-copy order message on Cloud channels enabled for Meta's Brazil "
            "payments) and the boleto PDF. Outside a Cloud contact's 24 h window the company's billing "
            "template goes instead. No open invoice: 200 saying so, nothing sent."
        ),
        request=BillingSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[
            OpenApiExample("All open invoices", request_only=True, value={"customer": 1001}),
            OpenApiExample("One invoice", request_only=True, value={"customer": 1002, "invoices": ["90002"]}),
            OpenApiExample("Nothing open", response_only=True, status_codes=["200"], value=NOTHING_OPEN),
            NOTICE_EXAMPLE,
        ],
        responses={
            202: NoticeSerializer,
            200: NothingOpenSerializer,
            **error_responses(415, specific=ERP_ERRORS),
        },
    )
    def post(self, request: Request) -> Response:
        company = request.user.company
        return respond_once(request, company, lambda: self._notify(request, company))

    def _notify(self, request: Request, company) -> Response:
        serializer = BillingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        notice = services.notify_billing(
            company=company, customer_code=data["customer"], contract_id=data["contract"], invoice_ids=data["invoices"]
        )
        if notice is None:
            return Response({**NOTHING_OPEN, "customer": data["customer"]}, status=status.HTTP_200_OK)
        return _accepted(company, notice)


class NoticeFilterSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Notice.Kind.choices, required=False, help_text="Only notices of this kind.")
    customer = serializers.CharField(max_length=64, required=False, help_text="Only this customer's notices.")


class NoticeListView(RateLimitedMixin, generics.ListAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = NoticeSerializer

    def get_queryset(self):
        queryset = company_notices(self.request.user.company)
        filters = NoticeFilterSerializer(data={k: v for k, v in self.request.query_params.items() if v})
        filters.is_valid(raise_exception=True)
        if kind := filters.validated_data.get("kind"):
            queryset = queryset.filter(kind=kind)
        if customer := filters.validated_data.get("customer"):
            queryset = queryset.filter(customer_code=customer)
        return queryset

    @extend_schema(
        summary="The company's notices, newest first, with each recipient's status",
        parameters=[NoticeFilterSerializer],
        examples=[NOTICE_EXAMPLE],
        responses={200: NoticeSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class NoticeDetailView(RateLimitedMixin, generics.RetrieveAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = NoticeSerializer

    def get_queryset(self):
        return company_notices(self.request.user.company)

    @extend_schema(
        summary="A notice and each recipient's status (queued → sent → delivered → read, or failed and why)",
        examples=[NOTICE_EXAMPLE],
        responses={200: NoticeSerializer, **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)
