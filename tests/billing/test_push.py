"""After an entry commits, the company's live dashboards hear of it; another company's hear nothing."""

import asyncio
from decimal import Decimal

import pytest
import time_machine
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from billing import push
from billing.services import budgets, entries
from tests.billing.conftest import cloud_message, utc
from tests.factories import CloudChannelFactory

pytestmark = pytest.mark.django_db

AT = utc(2026, 11, 10, 15)
MARKETING = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}


def listen(company_id: int) -> str:
    layer = get_channel_layer()
    name = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(push.group_name(company_id), name)
    return name


def received(name: str, timeout: float = 1.0) -> dict | None:
    async def receive():
        try:
            return await asyncio.wait_for(get_channel_layer().receive(name), timeout)
        except TimeoutError:
            return None

    return async_to_sync(receive)()


@time_machine.travel(AT, tick=False)
def test_a_charged_delivery_is_pushed_to_its_company_s_group(django_capture_on_commit_callbacks):
    channel, other = CloudChannelFactory(), CloudChannelFactory()
    mine, theirs = listen(channel.company_id), listen(other.company_id)
    message = cloud_message(channel, template="promo", at=AT)
    with django_capture_on_commit_callbacks(execute=True):
        entries.settle(receipts=[entries.Receipt(message.pk, "delivered", AT, MARKETING)])
    pushed = received(mine)
    assert pushed["type"] == "spend.changed"
    assert pushed["company_id"] == channel.company_id
    assert [(f["key"], f["spent"]) for f in pushed["month_by_category"]] == [("marketing", "0.062500")]
    assert pushed["last_billable"][0]["template"] == "promo"
    assert received(theirs, timeout=0.2) is None


def test_an_estimate_alone_pushes_nothing(django_capture_on_commit_callbacks):
    channel = CloudChannelFactory()
    mine = listen(channel.company_id)
    message = cloud_message(channel, template="promo", at=AT)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        entries.settle(queued=[entries.Queued(message.pk, AT, category="marketing")])
    assert callbacks == []
    assert received(mine, timeout=0.2) is None


@time_machine.travel(AT, tick=False)
def test_the_push_carries_the_budget_gauge_and_none_without_a_budget(django_capture_on_commit_callbacks):
    channel, bare = CloudChannelFactory(), CloudChannelFactory()
    budgets.set_budget(company=channel.company, amount=Decimal("0.10"), alert_threshold_percent=50)
    mine, theirs = listen(channel.company_id), listen(bare.company_id)
    with django_capture_on_commit_callbacks(execute=True):
        entries.settle(
            receipts=[
                entries.Receipt(cloud_message(channel, template="promo", at=AT).pk, "delivered", AT, MARKETING),
                entries.Receipt(cloud_message(bare, template="promo", at=AT).pk, "delivered", AT, MARKETING),
            ]
        )
    assert received(mine)["budget"] == {
        "amount": "0.100000",
        "currency": "USD",
        "spent": "0.062500",
        "percent": "62.5",
        "threshold_percent": 50,
        "over_threshold": True,
        "over_budget": False,
    }
    assert received(theirs)["budget"] is None
