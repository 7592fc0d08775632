"""The campaign engine: hands each running campaign's pending recipients to the one door out, at its pace.

A pass (``pump``) visits every campaign that is running (or scheduled and due). Each earns credit at its
messages per minute since its last pass and hands over that many recipients, in file order, through
``outbound.send_message`` with a key of its own per recipient, so a pass that dies after queuing leaves
nothing to be sent twice: its transaction, with the recipients' new status, is rolled back whole.

Fairness: a campaign never holds more than BACKLOG_SECONDS of its pace in the outbox. The outbox
already shares every channel's sends between all its messages; this keeps a campaign of 100,000 numbers
from standing in front of the notices and replies of the same channel, and makes a pause or a cancel
take back at most that many messages.
"""

import datetime as dt
import logging
import math
import time

from django.db import transaction
from django.utils import timezone

from config.exceptions import DomainError
from conversations.exceptions import ChannelNotUsable, CompanyInactive, InvalidRecipient, NoChannel, WindowClosed
from conversations.models import Message
from conversations.services import outbound
from conversations.whatsapp import content as contents
from notifications.campaigns import services
from notifications.campaigns.exceptions import CampaignTemplateNotUsable
from notifications.campaigns.template_fields import Fields, parameters
from notifications.models import Campaign, CampaignRecipient, CampaignUpload
from templates_meta.exceptions import TemplateNotUsable

logger = logging.getLogger(__name__)

BACKLOG_SECONDS = 10
MIN_BACKLOG = 20  # a slow campaign still keeps a few messages ready for its channel
# The most one pass hands over for a campaign: its transaction holds the campaign's lock meanwhile.
MAX_PER_PASS = 500
TICK_SECONDS = 1.0
Status = Campaign.Status
Recipient = CampaignRecipient.Status


def backlog_limit(campaign: Campaign) -> int:
    return max(MIN_BACKLOG, math.ceil(campaign.messages_per_minute * BACKLOG_SECONDS / 60))


def _earned(campaign: Campaign, now: dt.datetime) -> float:
    elapsed = max(0.0, (now - (campaign.pumped_at or now)).total_seconds())
    credit = campaign.credit + campaign.messages_per_minute * elapsed / 60
    # A pass that came late (a busy worker) never makes up for it in one burst.
    return min(credit, float(backlog_limit(campaign)))


def _hand_over(campaign: Campaign, recipient: CampaignRecipient, channel, fields: Fields) -> Message | None:
    if recipient.message_id is not None and outbound.retry_message(message=recipient.message):
        return recipient.message  # taken back by a pause: queued again as it was
    values = {**campaign.fixed, **recipient.values}
    content = contents.template_request(campaign.template_name, campaign.template_language, parameters(fields, values))
    return outbound.send_message(
        company=campaign.company,
        to=recipient.phone,
        content=content,
        channel=channel,
        author=Message.Author.BUSINESS,
        purpose=Message.Purpose.CAMPAIGN,
        idempotency_key=f"campaign:{campaign.pk}:{recipient.pk}",
        reference=campaign.reference,
    )


def _stop_reason(exc: Exception) -> str | None:
    """Why nothing of the campaign can go out now (it is paused), or None when only this recipient failed."""
    if isinstance(exc, TemplateNotUsable):
        details = exc.details if isinstance(exc.details, dict) else {}
        return None if "parameters" in details else exc.message
    if isinstance(exc, (NoChannel, ChannelNotUsable, CompanyInactive, CampaignTemplateNotUsable)):
        return exc.message
    return None


def _why(exc: DomainError) -> str:
    details = exc.details if isinstance(exc.details, dict) else {}
    said = [str(line) for value in details.values() for line in (value if isinstance(value, list) else [value])]
    return " ".join([exc.message, *said])


def pump_campaign(campaign_id: int, *, now: dt.datetime | None = None) -> int:
    """One pass for one campaign (see the module); returns how many recipients it handed over."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(of=("self",)).select_related("company", "channel").get(pk=campaign_id)
        )
        if campaign.status == Status.SCHEDULED and (campaign.start_at is None or campaign.start_at <= now):
            campaign.status, campaign.started_at, campaign.pumped_at = Status.RUNNING, now, now
            campaign.save(update_fields=["status", "started_at", "pumped_at", "updated_at"])
        if campaign.status != Status.RUNNING:
            return 0
        credit = _earned(campaign, now)
        # What still waits in the outbox itself: the recipients' own status follows a step behind (events).
        waiting = campaign.recipients.filter(status=Recipient.QUEUED, message__status=Message.Status.QUEUED).count()
        room = min(int(credit), backlog_limit(campaign) - waiting, MAX_PER_PASS)
        handed = 0
        if room > 0:
            handed = _hand_over_next(campaign, room, now)
            if campaign.status != Status.RUNNING:
                return handed  # paused by the pass itself
        campaign.credit, campaign.pumped_at = credit - handed, now
        campaign.save(update_fields=["credit", "pumped_at", "updated_at"])
        if _done(campaign):
            services.finish(campaign, now)
    return handed


def _done(campaign: Campaign) -> bool:
    """Nothing left to hand over, nothing of it still waiting in the outbox, no file still being read."""
    unsent = campaign.recipients.filter(status__in=(Recipient.PENDING, Recipient.QUEUED)).exists()
    return not unsent and not campaign.uploads.filter(status=CampaignUpload.Status.IMPORTING).exists()


def _hand_over_next(campaign: Campaign, room: int, now: dt.datetime) -> int:
    try:
        fields = services.fields_of(campaign)
        channel = campaign.channel or outbound.notice_channel(campaign.company)
        if channel is None:
            raise NoChannel
    except (CampaignTemplateNotUsable, NoChannel) as exc:
        services.pause_for(campaign, exc.message)
        return 0
    batch = list(campaign.recipients.filter(status=Recipient.PENDING).select_related("message").order_by("pk")[:room])
    changed: list[CampaignRecipient] = []
    for recipient in batch:
        try:
            message = _hand_over(campaign, recipient, channel, fields)
        except (TemplateNotUsable, InvalidRecipient, NoChannel, ChannelNotUsable, WindowClosed, CompanyInactive) as exc:
            if (reason := _stop_reason(exc)) is not None:
                CampaignRecipient.objects.bulk_update(changed, ["status", "status_at", "message", "contact", "failure"])
                services.pause_for(campaign, reason)
                return len(changed)
            recipient.status, recipient.failure = Recipient.FAILED, _why(exc)[:300]
        else:
            recipient.status, recipient.message, recipient.contact_id = Recipient.QUEUED, message, message.contact_id
        recipient.status_at = now
        changed.append(recipient)
    CampaignRecipient.objects.bulk_update(changed, ["status", "status_at", "message", "contact", "failure"])
    return len(changed)


def active_campaigns() -> list[int]:
    return list(Campaign.objects.filter(status__in=services.ACTIVE).order_by("pk").values_list("pk", flat=True))


def pump(*, now: dt.datetime | None = None) -> int:
    """One pass over every active campaign; returns how many recipients were handed over."""
    handed = 0
    for campaign_id in active_campaigns():
        try:
            handed += pump_campaign(campaign_id, now=now)
        except Exception:  # one campaign's bug must not stop the others
            logger.exception("Campaign %s: pass failed", campaign_id)
    return handed


def run(*, seconds: float) -> int:
    """Passes every TICK_SECONDS until no campaign is active or ``seconds`` ran out; returns recipients handed over."""
    deadline = time.monotonic() + seconds
    handed = 0
    while True:
        started = time.monotonic()
        handed += pump()
        if not active_campaigns() or time.monotonic() + TICK_SECONDS > deadline:
            return handed
        time.sleep(max(0.0, TICK_SECONDS - (time.monotonic() - started)))
