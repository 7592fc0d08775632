"""The conversation API (seeds' read API): contacts, their sessions and messages, the bot's pause, tags.

Everything is the key's company's: another company's ids are 404. Views parse, read through
``conversations.api.selectors`` and change a session only through ``conversations.services.sessions``.
"""

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from companies.models import Company
from companies.permissions import IsCompanyKey
from config.api import RateLimitedMixin
from config.openapi import error, error_responses
from conversations.api import examples, selectors
from conversations.api.filters import (
    TIMELINE_DEFAULT_LIMIT,
    TIMELINE_MAX_LIMIT,
    ContactSearchSerializer,
    MessageFilterSerializer,
    TimelineQuerySerializer,
    query_values,
)
from conversations.api.serializers import (
    PAUSE_MAX_MINUTES,
    BotStateSerializer,
    ContactSerializer,
    ConversationMessageSerializer,
    PauseBotSerializer,
    SessionSerializer,
    SessionTagsSerializer,
    TagCreateSerializer,
    TagSerializer,
    TimelineSerializer,
    is_paused,
)
from conversations.exceptions import SessionClosed
from conversations.models import Contact, Message, Session, Tag
from conversations.services import sessions, tags

MESSAGE_FILTERS_HELP = (
    "Newest first. `since` and `until` take a date (the whole day, in the company's time zone) or a date-time; "
    "`direction` is in or out; `status` one of the message statuses. A value that cannot be used is a 400 "
    "naming the parameter (and, for a choice, the values allowed). Texts have CPF/CNPJ numbers masked."
)
CLOSED_409 = error(
    "The session is already closed: nothing changed.",
    (SessionClosed.code, SessionClosed.message, {"closed_at": "2026-12-04T09:30:00-03:00", "close_reason": "closed"}),
)
TAG_NAME_PARAMETER = OpenApiParameter("name", str, OpenApiParameter.PATH, description="The tag's name.")


def _company(request: Request) -> Company:
    return request.user.company


def _session_answer(company: Company, session: Session, code: int = status.HTTP_200_OK) -> Response:
    return Response(SessionSerializer(selectors.get_session(company, session.pk)).data, status=code)


class ContactListView(RateLimitedMixin, generics.ListAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = ContactSerializer

    def get_queryset(self) -> QuerySet[Contact]:
        query = ContactSearchSerializer(data=query_values(self.request.query_params, ContactSearchSerializer))
        query.is_valid(raise_exception=True)
        return selectors.list_contacts(_company(self.request), search=query.validated_data.get("search", ""))

    @extend_schema(
        summary="List the company's contacts, most recently heard from first; search by phone or name",
        parameters=[ContactSearchSerializer],
        examples=[examples.CONTACT_PAGE],
        responses={200: ContactSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class ContactDetailView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="A contact, its linked customers (CPF/CNPJ masked) and its open session",
        examples=[examples.CONTACT_RESPONSE],
        responses={200: ContactSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(ContactSerializer(selectors.get_contact(_company(request), pk)).data)


class ContactSessionsView(RateLimitedMixin, generics.ListAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = SessionSerializer

    def get_queryset(self) -> QuerySet[Session]:
        return selectors.list_sessions(selectors.get_contact(_company(self.request), self.kwargs["pk"]))

    @extend_schema(
        summary="A contact's sessions, newest first",
        examples=[examples.SESSION_PAGE],
        responses={200: SessionSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class MessageListView(RateLimitedMixin, generics.ListAPIView):
    """A list of messages, filtered by ``?since=&until=&direction=&status=``."""

    permission_classes = [IsCompanyKey]
    serializer_class = ConversationMessageSerializer

    def scope(self, company: Company) -> dict[str, Contact | Session]:
        """Whose messages: ``{"contact": …}`` or ``{"session": …}`` (Http404 when not the company's)."""
        raise NotImplementedError

    def get_queryset(self) -> QuerySet[Message]:
        company = _company(self.request)
        scope = self.scope(company)  # 404 before the filters are looked at
        filters = MessageFilterSerializer.parse(self.request.query_params, tz=company.timezone)
        return selectors.list_messages(company, filters=filters, **scope)


class ContactMessagesView(MessageListView):
    def scope(self, company: Company) -> dict[str, Contact | Session]:
        return {"contact": selectors.get_contact(company, self.kwargs["pk"])}

    @extend_schema(
        summary="A contact's messages (every session, notices and campaigns too), filtered by date, direction, status",
        description=MESSAGE_FILTERS_HELP,
        parameters=[MessageFilterSerializer],
        examples=[examples.MESSAGE_PAGE],
        responses={200: ConversationMessageSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class SessionMessagesView(MessageListView):
    def scope(self, company: Company) -> dict[str, Contact | Session]:
        return {"session": selectors.get_session(company, self.kwargs["pk"])}

    @extend_schema(
        summary="A session's messages, filtered by date, direction, status",
        description=MESSAGE_FILTERS_HELP,
        parameters=[MessageFilterSerializer],
        examples=[examples.MESSAGE_PAGE],
        responses={200: ConversationMessageSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)


class ContactTimelineView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="A contact, its sessions (newest first) and its messages (oldest first) in one answer",
        description=(
            f"At most `limit` of the newest sessions and of the newest messages ({TIMELINE_DEFAULT_LIMIT} by "
            f"default, {TIMELINE_MAX_LIMIT} at most); `sessions_truncated` / `messages_truncated` say the oldest "
            "were left out: page through `/contacts/{id}/sessions` and `/contacts/{id}/messages` for them."
        ),
        parameters=[TimelineQuerySerializer],
        examples=[examples.TIMELINE_RESPONSE],
        responses={200: TimelineSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        contact = selectors.get_contact(_company(request), pk)
        query = TimelineQuerySerializer(data=query_values(request.query_params, TimelineQuerySerializer))
        query.is_valid(raise_exception=True)
        limit = query.validated_data["limit"]
        timeline = selectors.get_timeline(contact, limit=limit)
        answer = {
            "contact": timeline.contact,
            "sessions": timeline.sessions,
            "messages": timeline.messages,
            "limit": limit,
            "sessions_truncated": timeline.sessions_truncated,
            "messages_truncated": timeline.messages_truncated,
        }
        return Response(TimelineSerializer(answer).data)


def _bot_state(contact: Contact, session: Session | None) -> Response:
    until = session.bot_paused_until if session else None
    state = {
        "contact": contact.pk,
        "session": session.pk if session else None,
        "protocol": session.protocol if session else None,
        "bot_paused": is_paused(until),
        "bot_paused_until": until,
    }
    return Response(BotStateSerializer(state).data)


class ContactBotPauseView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="Pause the bot for a contact, for a time (its open session; one is opened if none)",
        description=(
            f"Give `ttl_minutes` (1 to {PAUSE_MAX_MINUTES}) or `until` (a date-time in the future, at most 7 days "
            "away). The bot answers nothing in the contact's open session until then; a periodic job lifts the "
            "pause when it runs out, and closing the session lifts it too. Pausing again replaces the time."
        ),
        request=PauseBotSerializer,
        examples=[examples.PAUSE_TTL, examples.PAUSE_UNTIL, examples.PAUSED],
        responses={200: BotStateSerializer, **error_responses(404, 415)},
    )
    def post(self, request: Request, pk: int) -> Response:
        contact = selectors.get_contact(_company(request), pk)
        body = PauseBotSerializer(data=request.data, context={"timezone": contact.company.timezone})
        body.is_valid(raise_exception=True)
        session, _ = sessions.open_session(contact)
        sessions.pause_bot(session, until=body.paused_until())
        return _bot_state(contact, session)


class ContactBotResumeView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="Resume the bot for a contact now (nothing to do without an open session)",
        request=None,
        examples=[examples.RESUMED],
        responses={200: BotStateSerializer, **error_responses(404)},
    )
    def post(self, request: Request, pk: int) -> Response:
        contact = selectors.get_contact(_company(request), pk)
        session = sessions.open_session_of(contact)
        if session is not None:
            sessions.pause_bot(session, until=None)
        return _bot_state(contact, session)


class SessionDetailView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="A session: protocol, bot state, handoff, customer (CPF/CNPJ masked), tags",
        examples=[examples.SESSION_RESPONSE],
        responses={200: SessionSerializer, **error_responses(404)},
    )
    def get(self, request: Request, pk: int) -> Response:
        return Response(SessionSerializer(selectors.get_session(_company(request), pk)).data)


class SessionCloseView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="Close a session (reason `closed`); a closed one is a 409",
        description=(
            "The session ends as if it were over: the bot's pause is lifted and the apps that follow sessions "
            "(the Chatwoot bridge) are told. The contact's next message opens a new session."
        ),
        request=None,
        examples=[examples.CLOSED_RESPONSE],
        responses={200: SessionSerializer, **error_responses(404, specific={409: CLOSED_409})},
    )
    def post(self, request: Request, pk: int) -> Response:
        company = _company(request)
        session = selectors.get_session(company, pk)
        if not sessions.close(session, reason=Session.CloseReason.CLOSED):
            session.refresh_from_db(fields=["closed_at", "close_reason"])
            details = {"closed_at": session.closed_at, "close_reason": session.close_reason}
            raise SessionClosed(details=details)
        return _session_answer(company, session)


class SessionTagsView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="Put tags on a session (unknown names become the company's tags)",
        description="Tags already on the session stay; closed sessions can be tagged too.",
        request=SessionTagsSerializer,
        examples=[examples.SESSION_TAGS, examples.SESSION_RESPONSE],
        responses={200: SessionSerializer, **error_responses(404, 415)},
    )
    def post(self, request: Request, pk: int) -> Response:
        company = _company(request)
        session = selectors.get_session(company, pk)
        body = SessionTagsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sessions.tag(session, body.validated_data["tags"])
        return _session_answer(company, session)


class SessionTagView(RateLimitedMixin, APIView):
    permission_classes = [IsCompanyKey]

    @extend_schema(
        summary="Take a tag off a session (the tag itself stays the company's)",
        parameters=[TAG_NAME_PARAMETER],
        responses={204: None, **error_responses(404)},
    )
    def delete(self, request: Request, pk: int, name: str) -> Response:
        session = selectors.get_session(_company(request), pk)
        if not session.tags.filter(name=name).exists():
            raise Http404
        sessions.untag(session, [name])
        return Response(status=status.HTTP_204_NO_CONTENT)


class TagListCreateView(RateLimitedMixin, generics.ListAPIView):
    permission_classes = [IsCompanyKey]
    serializer_class = TagSerializer

    def get_queryset(self) -> QuerySet[Tag]:
        return selectors.list_tags(_company(self.request))

    @extend_schema(
        summary="List the company's tags, by name",
        examples=[examples.TAG_PAGE],
        responses={200: TagSerializer(many=True), **error_responses(404)},
    )
    def get(self, request: Request, *args, **kwargs) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Create a tag; a name the company already has answers that tag (200), not a second one",
        description="201 with the new tag, or 200 with the existing one of that exact name (names are case-sensitive).",
        request=TagCreateSerializer,
        examples=[examples.TAG_CREATE, examples.TAG_RESPONSE],
        responses={201: TagSerializer, 200: TagSerializer, **error_responses(415)},
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        body = TagCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        tag, created = tags.create_tag(company=_company(request), name=body.validated_data["name"])
        return Response(TagSerializer(tag).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
