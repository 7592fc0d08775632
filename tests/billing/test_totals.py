"""Totals kept with their entries equal a recomputation from the entries, whatever Meta sends in whatever order."""

import copy
import datetime as dt
import itertools
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import SpendEntry, SpendMonthTotal, SpendTotal
from billing.services import totals
from conversations.models import Message
from conversations.services import outbound
from tests.billing.conftest import cloud_message, deliver_events, receive, utc
from tests.conftest import load_fixture
from tests.factories import CloudChannelFactory

pytestmark = pytest.mark.django_db

PRICINGS = [
    None,
    {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"},
    {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"},
    {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "service"},
    {"billable": False, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"},
    {"billable": False, "pricing_model": "PMP", "type": "free_entry_point", "category": "referral_conversion"},
    {"billable": True, "pricing_model": "CBP", "category": "utility"},
    {"billable": False, "pricing_model": "CBP", "category": "service"},
]
STATUSES = ["sent", "delivered", "read", "failed"]
# Days on both sides of Meta's changes: conversation-based pricing, free service, charged service.
BASES = [utc(2025, 3, 3, 12), utc(2026, 9, 30, 23, 50), utc(2026, 11, 10, 2, 55)]
_phones = itertools.count(1)

receipt_ops = st.tuples(
    st.just("receipt"),
    st.integers(0, 4),  # which message
    st.sampled_from(STATUSES),
    st.integers(0, len(PRICINGS) - 1),
    st.integers(0, 30),  # minutes after the base
    st.sampled_from(["c1", "c2"]),  # CBP conversation
)
queued_ops = st.tuples(st.just("queued"), st.integers(0, 4))
cancel_ops = st.tuples(st.just("cancel"), st.integers(0, 4))  # an operator's, while it waits in the outbox
operations = st.lists(st.one_of(receipt_ops, queued_ops, cancel_ops), min_size=1, max_size=14)


def payload_for(message: Message, status: str, pricing: dict | None, at: dt.datetime, conversation: str) -> dict:
    payload = copy.deepcopy(load_fixture("meta/status_sent.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = message.channel.phone_number_id
    receipt = value["statuses"][0]
    receipt.update(id=message.provider_id, status=status, timestamp=str(int(at.timestamp())))
    receipt["recipient_id"] = message.contact.phone
    receipt["conversation"]["id"] = conversation
    if pricing is None:
        del receipt["pricing"]
    else:
        receipt["pricing"] = pricing
    if status == "failed":
        receipt["errors"] = load_fixture("meta/status_failed.json")["entry"][0]["changes"][0]["value"]["statuses"][0][
            "errors"
        ]
    return payload


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    base=st.sampled_from(BASES),
    templates=st.lists(st.booleans(), min_size=5, max_size=5),
    waiting=st.lists(st.booleans(), min_size=5, max_size=5),
    ops=operations,
)
def test_totals_equal_their_recomputation_after_any_mix_of_receipts(db, base, templates, waiting, ops):
    channel = CloudChannelFactory()
    messages = [
        cloud_message(
            channel,
            phone=f"55449{next(_phones):08d}",
            template="aviso" if templated else "",
            status=Message.Status.QUEUED if queued else Message.Status.SENDING,
            at=base,
        )
        for templated, queued in zip(templates, waiting, strict=True)
    ]
    for op in ops + ops[: len(ops) // 3]:  # a third of them delivered twice
        message = messages[op[1]]
        if op[0] == "queued":
            outbound.announce_queued([(message, message.contact, message.data["content"])])
            deliver_events()
        elif op[0] == "cancel":
            outbound.cancel_message(message=message)
            deliver_events()
        else:
            _, _, status, pricing, minutes, conversation = op
            at = base + dt.timedelta(minutes=minutes)
            receive(payload_for(message, status, PRICINGS[pricing], at, conversation), message)
    company = [channel.company_id]
    assert totals.differences(company) == []
    assert SpendEntry.objects.filter(company_id__in=company).values("message_id").distinct().count() == (
        SpendEntry.objects.filter(company_id__in=company).count()
    )
    for message in messages:
        message.refresh_from_db()
        entry = SpendEntry.objects.filter(message=message).first()
        if message.status in ("delivered", "read") and entry is not None:
            assert entry.stage == SpendEntry.Stage.DELIVERED
        if message.status in ("failed", "cancelled") and entry is not None:
            assert (entry.stage, entry.amount) == (SpendEntry.Stage.FAILED, 0)


def test_the_command_reports_a_drifted_total_and_fixes_it(db):
    channel = CloudChannelFactory()
    message = cloud_message(channel, template="promo", at=utc(2026, 11, 10, 12))
    receive(payload_for(message, "delivered", PRICINGS[1], utc(2026, 11, 10, 12), "c1"), message)
    SpendTotal.objects.update(delivered_amount=Decimal("9.99"))
    SpendMonthTotal.objects.update(delivered_count=5)

    out = StringIO()
    call_command("recompute_spend_totals", stdout=out)
    report = out.getvalue()
    assert "delivered_amount is 9.99" in report and "the entries add up to 0.0625" in report
    assert "2 differences (run with --fix to repair)." in report

    call_command("recompute_spend_totals", "--fix", stdout=StringIO())
    assert totals.differences() == []
    assert SpendTotal.objects.get().delivered_amount == Decimal("0.0625")
    out = StringIO()
    call_command("recompute_spend_totals", "--company", str(channel.company_id), stdout=out)
    assert "The totals equal their entries." in out.getvalue()
