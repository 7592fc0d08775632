"""Companies, channels and API keys over REST: platform admins manage them, a company key reads its own."""

import uuid

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from companies import selectors, services
from companies.api import examples
from companies.api.serializers import (
    ApiKeySerializer,
    ChannelSerializer,
    CompanySerializer,
    MeSerializer,
    NewApiKeySerializer,
)
from companies.models import Company
from companies.permissions import IsCompanyKey, IsPlatformAdmin, PlatformAdminOrCompanyReadOnly, company_of
from config.api import RateLimitedMixin
from config.openapi import error_responses

CONTRACT_PARAMETER = OpenApiParameter(
    "contract", type=uuid.UUID, location=OpenApiParameter.PATH, description="The company's contract UUID."
)


def parse_contract(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise serializers.ValidationError({"contract": [f"{value!r} is not a valid UUID."]}) from None


class CompanyScopedMixin:
    """Resolves ``<contract>`` from the URL within what the caller may see (404 otherwise)."""

    def get_company(self) -> Company:
        if not hasattr(self, "_company"):
            contract = parse_contract(self.kwargs["contract"])
            company = selectors.get_company(company=company_of(self.request), contract=contract)
            if company is None:
                raise Http404
            self._company = company
        return self._company


@extend_schema_view(
    list=extend_schema(
        summary="List companies (a company key sees only its own)",
        examples=[examples.COMPANY_RESPONSE],
        responses={200: CompanySerializer(many=True), **error_responses(404)},
    ),
    create=extend_schema(
        summary="Create a company",
        examples=[examples.COMPANY_CREATE, examples.COMPANY_RESPONSE],
        responses={201: CompanySerializer, **error_responses(415)},
    ),
    retrieve=extend_schema(
        summary="Get a company",
        parameters=[CONTRACT_PARAMETER],
        examples=[examples.COMPANY_RESPONSE],
        responses={200: CompanySerializer, **error_responses(404)},
    ),
    update=extend_schema(
        summary="Replace a company's settings",
        parameters=[CONTRACT_PARAMETER],
        examples=[examples.COMPANY_CREATE, examples.COMPANY_RESPONSE],
        responses={200: CompanySerializer, **error_responses(404, 415)},
    ),
    partial_update=extend_schema(
        summary="Change some of a company's settings",
        parameters=[CONTRACT_PARAMETER],
        examples=[examples.COMPANY_PATCH, examples.COMPANY_RESPONSE],
        responses={200: CompanySerializer, **error_responses(404, 415)},
    ),
    destroy=extend_schema(
        summary="Delete a company and everything it owns",
        parameters=[CONTRACT_PARAMETER],
        responses={204: None, **error_responses(404)},
    ),
)
class CompanyViewSet(RateLimitedMixin, CompanyScopedMixin, viewsets.ModelViewSet):
    """Platform admins see and change every company; a company key sees only its own, read-only."""

    serializer_class = CompanySerializer
    permission_classes = [PlatformAdminOrCompanyReadOnly]
    lookup_field = "contract"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return selectors.list_companies(company=company_of(self.request))

    def get_object(self) -> Company:
        company = self.get_company()
        self.check_object_permissions(self.request, company)
        return company

    def perform_create(self, serializer: CompanySerializer) -> None:
        serializer.instance = services.create_company(data=serializer.validated_data)

    def perform_update(self, serializer: CompanySerializer) -> None:
        services.update_company(company=serializer.instance, data=serializer.validated_data)

    def perform_destroy(self, instance: Company) -> None:
        services.delete_company(company=instance)


@extend_schema_view(
    list=extend_schema(
        summary="List a company's channels",
        parameters=[CONTRACT_PARAMETER],
        examples=[examples.CHANNEL_RESPONSE],
        responses={200: ChannelSerializer(many=True), **error_responses(404)},
    ),
    create=extend_schema(
        summary="Add a channel (WhatsApp number) to a company",
        parameters=[CONTRACT_PARAMETER],
        examples=[examples.CHANNEL_CREATE_CLOUD, examples.CHANNEL_CREATE_EVOLUTION, examples.CHANNEL_RESPONSE],
        responses={201: ChannelSerializer, **error_responses(404, 415)},
    ),
    retrieve=extend_schema(
        summary="Get a channel",
        parameters=[CONTRACT_PARAMETER],
        examples=[examples.CHANNEL_RESPONSE],
        responses={200: ChannelSerializer, **error_responses(404)},
    ),
    update=extend_schema(
        summary="Replace a channel's settings",
        parameters=[CONTRACT_PARAMETER],
        examples=[examples.CHANNEL_CREATE_CLOUD, examples.CHANNEL_RESPONSE],
        responses={200: ChannelSerializer, **error_responses(404, 415)},
    ),
    partial_update=extend_schema(
        summary="Change some of a channel's settings",
        parameters=[CONTRACT_PARAMETER],
        examples=[examples.CHANNEL_PATCH, examples.CHANNEL_RESPONSE],
        responses={200: ChannelSerializer, **error_responses(404, 415)},
    ),
    destroy=extend_schema(
        summary="Delete a channel", parameters=[CONTRACT_PARAMETER], responses={204: None, **error_responses(404)}
    ),
)
class ChannelViewSet(RateLimitedMixin, CompanyScopedMixin, viewsets.ModelViewSet):
    serializer_class = ChannelSerializer
    permission_classes = [PlatformAdminOrCompanyReadOnly]

    def get_queryset(self):
        return selectors.list_channels(company=self.get_company())

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        if "contract" in self.kwargs:
            context["company"] = self.get_company()
        return context

    def perform_create(self, serializer: ChannelSerializer) -> None:
        serializer.instance = services.create_channel(company=self.get_company(), data=serializer.validated_data)

    def perform_update(self, serializer: ChannelSerializer) -> None:
        services.update_channel(channel=serializer.instance, data=serializer.validated_data)

    def perform_destroy(self, instance) -> None:
        services.delete_channel(channel=instance)


@extend_schema_view(
    list=extend_schema(
        summary="List a company's API keys (prefixes only)",
        parameters=[CONTRACT_PARAMETER],
        examples=[examples.API_KEY_RESPONSE],
        responses={200: ApiKeySerializer(many=True), **error_responses(404)},
    ),
    create=extend_schema(
        summary="Create an API key; the key is in this response only",
        parameters=[CONTRACT_PARAMETER],
        request=ApiKeySerializer,
        examples=[examples.API_KEY_CREATE, examples.API_KEY_CREATED],
        responses={201: NewApiKeySerializer, **error_responses(404, 415)},
    ),
    revoke=extend_schema(
        summary="Revoke an API key at once",
        parameters=[CONTRACT_PARAMETER],
        request=None,
        examples=[examples.API_KEY_REVOKED],
        responses={200: ApiKeySerializer, **error_responses(404)},
    ),
)
class ApiKeyViewSet(
    RateLimitedMixin, CompanyScopedMixin, mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    serializer_class = ApiKeySerializer
    permission_classes = [IsPlatformAdmin]

    def get_queryset(self):
        return selectors.list_api_keys(company=self.get_company())

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = ApiKeySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        api_key, plaintext = services.create_api_key(company=self.get_company(), name=serializer.validated_data["name"])
        api_key.key = plaintext
        return Response(NewApiKeySerializer(api_key).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, *args, **kwargs) -> Response:
        api_key = self.get_object()
        services.revoke_key(key=api_key)
        return Response(ApiKeySerializer(api_key).data)


class MeView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="Which company this API key belongs to",
        responses={200: MeSerializer, **error_responses()},
        examples=[examples.ME_RESPONSE],
    )
    def get(self, request: Request) -> Response:
        company = request.user.company
        payload = {
            "company": company,
            "channels": selectors.list_channels(company=company),
            "api_key": request.user.api_key,
        }
        return Response(MeSerializer(payload).data)
