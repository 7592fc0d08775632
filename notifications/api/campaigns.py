"""Campaigns over REST: create one, upload its CSVs, start / pause / resume / cancel, and follow each recipient.

Views parse, call ``notifications.campaigns.services`` and render; the company is always the key's. A CSV
is sent as the request body (``Content-Type: text/csv``) or as the ``file`` field of a multipart form, and
is streamed to disk as it arrives, never held in memory.
"""

import hashlib
import tempfile
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, OpenApiTypes, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from companies.idempotency import KeyReused, respond_once
from companies.models import Company
from companies.permissions import IsCompanyKey
from config.api import RateLimitedMixin, StrictSerializerMixin
from config.exceptions import DomainError
from config.openapi import error, error_responses
from conversations.exceptions import ChannelNotUsable, CompanyInactive
from notifications.api.notices import IDEMPOTENCY_PARAMETER
from notifications.campaigns import services
from notifications.campaigns.exceptions import (
    CampaignStateConflict,
    CampaignTemplateNotUsable,
    CsvNotUsable,
    NothingToSend,
)
from notifications.models import Campaign, CampaignRecipient, CampaignRowError, CampaignUpload

CHUNK = 64 * 1024
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream", "application/vnd.ms-excel")


class UnsupportedUpload(DomainError):
    status = 415
    code = "unsupported_media_type"
    message = "Send the CSV as the body (Content-Type: text/csv) or as the 'file' field of a multipart form."


class NoFileField(DomainError):
    code = "invalid"
    message = "The multipart form has no 'file' field."


class FieldValues(serializers.DictField):
    child = serializers.CharField(max_length=1024, allow_blank=True)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        value = super().to_internal_value(data)
        if len(value) > 50:
            raise serializers.ValidationError("At most 50 fields.")
        return value


class CreateCampaignSerializer(StrictSerializerMixin, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    template = serializers.CharField(max_length=512, help_text="The approved template's name.")
    language = serializers.CharField(max_length=15, default="pt_BR")
    channel = serializers.IntegerField(
        required=False, allow_null=True, help_text="A channel id; omitted: the company's routing policy for notices."
    )
    messages_per_minute = serializers.IntegerField(min_value=1, max_value=services.MAX_MESSAGES_PER_MINUTE, default=60)
    start_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Not before this time.")
    columns = FieldValues(
        required=False, default=dict, help_text="Template field → CSV column, where the column has another name."
    )
    fixed = FieldValues(required=False, default=dict, help_text="Template field → one value for every recipient.")


class CampaignUploadSerializer(serializers.ModelSerializer):
    class Meta:
        model = CampaignUpload
        fields = [
            "id",
            "filename",
            "size",
            "status",
            "error",
            "encoding",
            "delimiter",
            "phone_column",
            "rows",
            "valid",
            "invalid",
            "duplicates",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class CampaignSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="template_name", read_only=True)
    language = serializers.CharField(source="template_language", read_only=True)
    channel = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    stats = serializers.SerializerMethodField()
    uploads = CampaignUploadSerializer(many=True, read_only=True)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "template",
            "language",
            "channel",
            "messages_per_minute",
            "start_at",
            "columns",
            "fixed",
            "status",
            "paused_reason",
            "created_at",
            "started_at",
            "finished_at",
            "stats",
            "uploads",
        ]
        read_only_fields = fields

    def get_stats(self, campaign: Campaign) -> dict[str, Any]:
        return services.stats(campaign)


class CampaignRecipientSerializer(serializers.ModelSerializer):
    to = serializers.CharField(source="phone", read_only=True)

    class Meta:
        model = CampaignRecipient
        fields = ["id", "to", "line", "status", "status_at", "failure", "message", "values"]
        read_only_fields = fields


class CampaignRowErrorSerializer(serializers.ModelSerializer):
    upload = serializers.IntegerField(source="upload_id", read_only=True)

    class Meta:
        model = CampaignRowError
        fields = ["upload", "line", "phone", "reason"]
        read_only_fields = fields


class CampaignRecipientFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CampaignRecipient.Status.choices, required=False)


def company_campaigns(company: Company) -> QuerySet[Campaign]:
    return Campaign.objects.filter(company=company).prefetch_related("uploads").order_by("-pk")


def _campaign(request: Request, pk: int) -> Campaign:
    campaign = Campaign.objects.filter(company=request.user.company, pk=pk).select_related("company", "channel").first()
    if campaign is None:
        raise Http404
    return campaign


def _render(campaign: Campaign, code: int = status.HTTP_200_OK) -> Response:
    return Response(CampaignSerializer(company_campaigns(campaign.company).get(pk=campaign.pk)).data, status=code)


CAMPAIGN_EXAMPLE = OpenApiExample(
    "Campaign",
    response_only=True,
    value={
        "id": 31,
        "name": "Aviso de manutenção",
        "template": "aviso_manutencao",
        "language": "pt_BR",
        "channel": None,
        "messages_per_minute": 600,
        "start_at": None,
        "columns": {"1": "nome"},
        "fixed": {},
        "status": "running",
        "paused_reason": "",
        "created_at": "2026-11-25T09:00:00-03:00",
        "started_at": "2026-11-25T10:00:00-03:00",
        "finished_at": None,
        "stats": {
            "recipients": 3,
            "pending": 1,
            "queued": 0,
            "sent": 0,
            "delivered": 1,
            "read": 0,
            "replied": 0,
            "failed": 1,
            "cancelled": 0,
            "reached": 1,
            "rows": 5,
            "invalid_rows": 1,
            "duplicates": 1,
            "importing": False,
            "progress": 66.7,
        },
        "uploads": [
            {
                "id": 40,
                "filename": "clientes.csv",
                "size": 141,
                "status": "imported",
                "error": "",
                "encoding": "utf-8-sig",
                "delimiter": ";",
                "phone_column": "telefone",
                "rows": 5,
                "valid": 3,
                "invalid": 1,
                "duplicates": 1,
                "created_at": "2026-11-25T09:01:00-03:00",
                "finished_at": "2026-11-25T09:01:01-03:00",
            }
        ],
    },
)
CREATE_EXAMPLE = OpenApiExample(
    "Create",
    request_only=True,
    value={"name": "Aviso de manutenção", "template": "aviso_manutencao", "messages_per_minute": 600},
)
TEMPLATE_422 = error(
    "The template is unknown or not approved, or `columns` / `fixed` name fields it does not have.",
    (CampaignTemplateNotUsable.code, "No approved template 'aviso_manutencao' in pt_BR for the company."),
)
STATE_409 = error(
    "Not possible in the campaign's current state.",
    (CampaignStateConflict.code, "A finished campaign cannot be paused.", {"status": "finished"}),
    (NothingToSend.code, NothingToSend.message),
    (KeyReused.code, KeyReused.message, {"idempotency_key": "campanha-31"}),
)


class CampaignListCreateView(RateLimitedMixin, generics.ListAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = CampaignSerializer

    def get_queryset(self) -> QuerySet[Campaign]:
        return company_campaigns(self.request.user.company)

    @extend_schema(
        summary="List the company's campaigns, newest first",
        examples=[CAMPAIGN_EXAMPLE],
        responses={200: CampaignSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a campaign (a draft)",
        description=(
            "One approved template, sent at `messages_per_minute` to the numbers of the CSVs uploaded next "
            "(`POST /api/v1/campaigns/{id}/recipients`), from `start_at` or when started. Each template field (the "
            "body's variables `1`, `2`… or `first_name`…, `header`, `button_N`) is filled from the CSV column of its "
            "name, from the column `columns` maps it to, or from the value `fixed` gives everyone."
        ),
        request=CreateCampaignSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[CREATE_EXAMPLE, CAMPAIGN_EXAMPLE],
        responses={
            201: CampaignSerializer,
            **error_responses(
                415,
                specific={
                    409: error("Refused.", (CompanyInactive.code, CompanyInactive.message)),
                    422: TEMPLATE_422,
                },
            ),
        },
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        company = request.user.company
        return respond_once(request, company, lambda: self._create(request, company))

    def _create(self, request: Request, company: Company) -> Response:
        serializer = CreateCampaignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        channel = None
        if data.get("channel") is not None:
            channel = company.channels.filter(pk=data["channel"], is_active=True).first()
            if channel is None:
                raise ChannelNotUsable
        campaign = services.create_campaign(
            company=company,
            name=data["name"],
            template_name=data["template"],
            template_language=data["language"],
            channel=channel,
            messages_per_minute=data["messages_per_minute"],
            start_at=data.get("start_at"),
            columns=data["columns"],
            fixed=data["fixed"],
        )
        return _render(campaign, status.HTTP_201_CREATED)


class CampaignDetailView(RateLimitedMixin, generics.RetrieveAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = CampaignSerializer

    def get_queryset(self) -> QuerySet[Campaign]:
        return company_campaigns(self.request.user.company)

    @extend_schema(
        summary="A campaign with its stats and files",
        examples=[CAMPAIGN_EXAMPLE],
        responses={200: CampaignSerializer, **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class _Received:
    """The uploaded CSV on disk, with its size and hash (the Idempotency-Key's body)."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by the view)
        self.size = 0
        self.sha256 = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.size += len(chunk)
        self.sha256.update(chunk)


def _receive(request: Request) -> tuple[_Received, str]:
    django_request = request._request
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        uploaded = django_request.FILES.get("file")
        if uploaded is None:
            raise NoFileField
        chunks, filename = uploaded.chunks(CHUNK), uploaded.name or "upload.csv"
    elif content_type in CSV_TYPES:
        chunks = iter(lambda: django_request.read(CHUNK), b"")
        filename = request.headers.get("X-Filename", "") or "upload.csv"
    else:
        raise UnsupportedUpload
    received = _Received()
    try:
        for chunk in chunks:
            received.write(chunk)
    except BaseException:
        received.file.close()
        raise
    received.file.seek(0)
    return received, filename[:255]


class CampaignRecipientsView(RateLimitedMixin, generics.ListAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = CampaignRecipientSerializer

    def get_queryset(self) -> QuerySet[CampaignRecipient]:
        campaign = _campaign(self.request, self.kwargs["pk"])
        queryset = campaign.recipients.order_by("pk")
        filters = CampaignRecipientFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        if wanted := filters.validated_data.get("status"):
            queryset = queryset.filter(status=wanted)
        return queryset

    @extend_schema(
        summary="A campaign's recipients and the status of each",
        parameters=[CampaignRecipientFilterSerializer],
        responses={200: CampaignRecipientSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Upload a CSV of recipients (imported in the background; 202)",
        description=(
            "The body is the CSV (`Content-Type: text/csv`, the file name in `X-Filename`) or a multipart form with "
            "the file as `file`. UTF-8 with or without BOM (Windows-1252 is read too), `,` or `;` between fields, "
            "quoted fields may hold line breaks. A phone column named `phone`, `phone_number`, `telefone`, `celular` "
            "or `whatsapp`; a column for each template field. The header is checked at once (422 for an empty file, "
            "no phone column, a field without a column); the rows are imported in the background: poll the "
            "campaign, and `GET .../errors` for the rows that were not added, with their line numbers and why. "
            f"At most {settings.CAMPAIGN_CSV_MAX_BYTES // (1024 * 1024)} MiB."
        ),
        request={
            "text/csv": OpenApiTypes.BINARY,
            "multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}},
        },
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={
            202: CampaignUploadSerializer,
            **error_responses(
                404,
                specific={
                    409: STATE_409,
                    413: error("Over the size limit.", ("payload_too_large", "The request body is over the limit.")),
                    415: error("Not a CSV body or form.", (UnsupportedUpload.code, UnsupportedUpload.message)),
                    422: error(
                        "The file cannot be the campaign's list.",
                        (CsvNotUsable.code, "The file has no phone column: name one of phone, phone_number, …"),
                    ),
                },
            ),
        },
    )
    def post(self, request: Request, pk: int) -> Response:
        campaign = _campaign(request, pk)
        received, filename = _receive(request)
        with received.file:
            return respond_once(
                request,
                campaign.company,
                lambda: self._upload(campaign, received, filename),
                body_digest=received.sha256.hexdigest(),
            )

    def _upload(self, campaign: Campaign, received: _Received, filename: str) -> Response:
        upload = services.add_upload(campaign=campaign, file=received.file, filename=filename, size=received.size)
        return Response(CampaignUploadSerializer(upload).data, status=status.HTTP_202_ACCEPTED)


class CampaignErrorsView(RateLimitedMixin, generics.ListAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = CampaignRowErrorSerializer

    def get_queryset(self) -> QuerySet[CampaignRowError]:
        campaign = _campaign(self.request, self.kwargs["pk"])
        return CampaignRowError.objects.filter(upload__campaign=campaign).order_by("upload_id", "line")

    @extend_schema(
        summary="The CSV rows that were not added, with their line numbers and why",
        responses={200: CampaignRowErrorSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


ACTIONS = {
    "start": (services.start_campaign, "Start sending (now, or at `start_at`)"),
    "pause": (services.pause_campaign, "Pause at once: what waits in the outbox is taken back until resumed"),
    "resume": (services.resume_campaign, "Resume a paused campaign"),
    "cancel": (services.cancel_campaign, "Cancel for good: nothing more is sent"),
}


class CampaignActionView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]
    action_name = ""

    def post(self, request: Request, pk: int) -> Response:
        campaign = _campaign(request, pk)
        act = ACTIONS[self.action_name][0]
        return respond_once(request, campaign.company, lambda: _render(act(campaign), status.HTTP_202_ACCEPTED))


def action_view(name: str) -> Any:
    """The view of ``POST /campaigns/{id}/<name>``, documented as its own operation."""

    def post(self: CampaignActionView, request: Request, pk: int) -> Response:
        return CampaignActionView.post(self, request, pk)

    documented = extend_schema(
        summary=ACTIONS[name][1],
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        examples=[CAMPAIGN_EXAMPLE],
        responses={202: CampaignSerializer, **error_responses(404, specific={409: STATE_409})},
    )(post)
    return type(
        f"Campaign{name.title()}View", (CampaignActionView,), {"action_name": name, "post": documented}
    ).as_view()
