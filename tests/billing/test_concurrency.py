"""Concurrent settlements of one company's day add up on PostgreSQL: no total is overwritten or lost."""

import threading

import pytest
from django.db import connection, connections

from billing.models import SpendTotal
from billing.services import entries, totals
from tests.billing.conftest import cloud_message, utc
from tests.factories import CloudChannelFactory

AT = utc(2026, 11, 10, 15)
MARKETING = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}


@pytest.mark.django_db(transaction=True)
def test_workers_settling_one_company_at_once_lose_nothing():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    channel = CloudChannelFactory()
    messages = [cloud_message(channel, phone=f"5544999{n:06d}", template="promo", at=AT) for n in range(40)]
    start, failures = threading.Barrier(4), []

    def worker(batch):
        try:
            start.wait()
            for message in batch:
                # Each receipt twice, as two workers may both take a redelivered event.
                for _ in range(2):
                    entries.settle(receipts=[entries.Receipt(message.pk, "delivered", AT, MARKETING)])
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(messages[n::2],)) for n in range(2)]
    threads += [threading.Thread(target=worker, args=(list(reversed(messages[n::2])),)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert SpendTotal.objects.get().delivered_count == 40
    assert totals.differences() == []
