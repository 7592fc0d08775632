"""The campaign engine: its pace, its share of the outbox, start time, pause / resume / cancel at once,
never a number sent twice, per-recipient failures, and the pause when nothing of it can go out."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from conversations.models import Message
from conversations.services import outbound
from conversations.whatsapp import content as contents
from notifications.campaigns import engine, services
from notifications.campaigns.exceptions import CampaignStateConflict, NothingToSend
from notifications.models import Campaign
from tests.factories import EvolutionChannelFactory
from tests.notifications.campaign_helpers import campaign_for, imported

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 25, 13, 0, tzinfo=dt.UTC)


def _rows(count: int, start: int = 1) -> str:
    return "phone,nome,data\n" + "".join(f"55449{n:08d},Nome {n},28/11\n" for n in range(start, start + count))


def _started(company, template, count: int, **overrides) -> Campaign:
    campaign = campaign_for(company, template, **overrides)
    imported(campaign, _rows(count))
    services.start_campaign(campaign)
    campaign.refresh_from_db()
    Campaign.objects.filter(pk=campaign.pk).update(pumped_at=T0)
    return campaign


def _statuses(campaign) -> dict[str, int]:
    return {
        k: v for k, v in services.stats(campaign).items() if k in ("pending", "queued", "failed", "cancelled") and v
    }


def _outbox(campaign):
    return Message.objects.filter(reference=campaign.reference)


def test_the_pace_is_messages_per_minute_from_the_last_pass(company, template):
    campaign = _started(company, template, 50, messages_per_minute=120)
    assert engine.pump_campaign(campaign.pk, now=T0) == 0  # nothing earned yet
    assert engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=5)) == 10
    assert engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=5.25)) == 0  # half a message earned
    assert engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=5.5)) == 1
    assert _outbox(campaign).count() == 11
    message = _outbox(campaign).order_by("pk").first()
    assert (message.status, message.purpose, message.type) == ("queued", "campaign", "template")
    body = message.data["content"]["components"][0]["parameters"]
    assert [p["text"] for p in body] == ["Nome 1", "28/11"]
    assert message.text == "Olá Nome 1, haverá manutenção na sua região em 28/11."


def test_a_campaign_keeps_only_a_few_seconds_of_its_pace_in_the_outbox(company, template):
    """Its share of the channel: the notices and replies queued meanwhile never wait behind all of it."""
    campaign = _started(company, template, 400, messages_per_minute=600)  # 10 a second: 100 is its backlog
    assert engine.backlog_limit(campaign) == 100
    later = T0 + dt.timedelta(minutes=5)  # a pass that comes late never makes up for it in one burst
    assert engine.pump_campaign(campaign.pk, now=later) == 100
    assert engine.pump_campaign(campaign.pk, now=later + dt.timedelta(seconds=30)) == 0  # the outbox still holds them
    notice = outbound.send_message(
        company=company, to="5544988887777", content=contents.template_request(template.name, "pt_BR", ["Ana", "hoje"])
    )
    queued = list(Message.objects.filter(status="queued").order_by("next_attempt_at", "pk"))
    assert len(queued) == 101 and notice in queued
    # The engine's messages, once sent, make room again, before the recipients' own status follows (events).
    sent = list(_outbox(campaign).order_by("pk").values_list("pk", flat=True)[:60])
    Message.objects.filter(pk__in=sent).update(status="sent")
    assert campaign.recipients.filter(status="queued").count() == 100
    assert engine.pump_campaign(campaign.pk, now=later + dt.timedelta(seconds=40)) == 60


def test_a_scheduled_campaign_waits_for_its_start_time(company, template):
    start = timezone.now() + dt.timedelta(hours=2)
    campaign = _started(company, template, 5, start_at=start)
    assert campaign.status == "scheduled"
    assert engine.pump_campaign(campaign.pk, now=start - dt.timedelta(minutes=1)) == 0
    assert engine.pump_campaign(campaign.pk, now=start) == 0
    campaign.refresh_from_db()
    assert (campaign.status, campaign.started_at) == ("running", start)
    assert engine.pump_campaign(campaign.pk, now=start + dt.timedelta(seconds=3)) == 3


def test_pause_takes_back_what_waits_in_the_outbox_and_resume_sends_it_once(company, template):
    campaign = _started(company, template, 30, messages_per_minute=600)
    assert engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=2)) == 20
    first = _outbox(campaign).order_by("pk").first()
    first.status = "sent"
    first.save(update_fields=["status"])  # already with Meta: not taken back
    services.pause_campaign(campaign)
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert _outbox(campaign).filter(status="cancelled").count() == 19
    assert _statuses(campaign) == {"pending": 29, "queued": 1}
    assert engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(minutes=1)) == 0  # stays stopped
    services.resume_campaign(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(pumped_at=T0)
    assert engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=30)) == 29
    assert _outbox(campaign).count() == 30  # the 19 taken back were queued again, not made twice
    assert _outbox(campaign).filter(status="queued").count() == 29
    assert set(campaign.recipients.values_list("message", flat=True)) == set(
        _outbox(campaign).values_list("pk", flat=True)
    )


def test_cancel_stops_for_good(company, template):
    campaign = _started(company, template, 30, messages_per_minute=600)
    engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=1))
    services.cancel_campaign(campaign)
    assert _outbox(campaign).exclude(status="cancelled").count() == 0
    assert _statuses(campaign) == {"cancelled": 30}
    assert engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(minutes=5)) == 0
    with pytest.raises(CampaignStateConflict):
        services.resume_campaign(campaign)


def test_a_campaign_finishes_once_nothing_of_it_waits_in_the_outbox(company, template):
    campaign = _started(company, template, 3, messages_per_minute=600)
    engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=1))
    campaign.refresh_from_db()
    assert campaign.status == "running"  # handed over, not yet sent: it can still be paused
    campaign.recipients.update(status="sent")
    engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=2))
    campaign.refresh_from_db()
    assert (campaign.status, campaign.finished_at) == ("finished", T0 + dt.timedelta(seconds=2))


def test_a_recipient_whose_values_do_not_fit_fails_alone(company, template):
    campaign = _started(company, template, 3, messages_per_minute=600)
    recipient = campaign.recipients.order_by("pk")[1]
    recipient.values = {"1": "Ana"}  # a field lost: the template takes two
    recipient.save()
    engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=1))
    recipient.refresh_from_db()
    assert recipient.status == "failed" and "takes 2 values" in recipient.failure
    assert _outbox(campaign).count() == 2


def test_a_template_paused_by_meta_pauses_the_campaign(company, template):
    campaign = _started(company, template, 5, messages_per_minute=600)
    template.status = "PAUSED"
    template.save()
    assert engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=1)) == 0
    campaign.refresh_from_db()
    assert campaign.status == "paused" and "aviso_manutencao" in campaign.paused_reason
    assert _statuses(campaign) == {"pending": 5}


def test_a_pass_that_dies_leaves_nothing_queued_and_nothing_to_send_twice(company, template, monkeypatch):
    campaign = _started(company, template, 5, messages_per_minute=600)
    send = outbound.send_message
    calls = {"n": 0}

    def dies_on_the_fourth(**kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("worker killed")
        return send(**kwargs)

    monkeypatch.setattr(outbound, "send_message", dies_on_the_fourth)
    with pytest.raises(RuntimeError):
        engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=1))
    assert not _outbox(campaign).exists()
    assert _statuses(campaign) == {"pending": 5}
    monkeypatch.setattr(outbound, "send_message", send)
    assert engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=2)) == 5
    assert _outbox(campaign).values("contact").distinct().count() == 5


def test_each_recipient_has_its_own_idempotency_key(company, template):
    campaign = _started(company, template, 2, messages_per_minute=600)
    engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=1))
    keys = set(_outbox(campaign).values_list("idempotency_key", flat=True))
    assert keys == {f"campaign:{campaign.pk}:{r}" for r in campaign.recipients.values_list("pk", flat=True)}


def test_without_a_channel_the_routing_policy_picks_evolution_and_sends_the_text(company, template):
    EvolutionChannelFactory(company=company, connection_state="open")
    campaign = _started(company, template, 1, messages_per_minute=600)
    engine.pump_campaign(campaign.pk, now=T0 + dt.timedelta(seconds=1))
    message = _outbox(campaign).get()
    assert message.channel.kind == "evolution"
    assert message.data["content"]["rendered_text"] == "Olá Nome 1, haverá manutenção na sua região em 28/11."


def test_starting_needs_recipients_and_a_draft(company, template):
    campaign = campaign_for(company, template)
    with pytest.raises(NothingToSend):
        services.start_campaign(campaign)
    imported(campaign, _rows(1))
    services.start_campaign(campaign)
    with pytest.raises(CampaignStateConflict):
        services.start_campaign(campaign)
    with pytest.raises(CampaignStateConflict):
        imported(campaign, _rows(1, start=5))


def test_run_passes_until_no_campaign_is_active(company, template, settings):
    campaign = _started(company, template, 2, messages_per_minute=60_000)
    with transaction.atomic():
        assert engine.run(seconds=0.5) == 2  # its time ran out while the messages wait in the outbox
    campaign.recipients.update(status="delivered")
    assert engine.run(seconds=5) == 0
    campaign.refresh_from_db()
    assert campaign.status == "finished"
