"""The daily reconciliation job against the fake Graph API (real HTTP on loopback): Meta's pricing analytics
of the company's yesterday stored beside our spend, whole or not at all, once, and under one lock."""

import datetime as dt
import logging
import threading
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from billing import meta_analytics, tasks
from billing.models import MetaFetch, MetaSpend
from billing.services import reconciliation
from companies.models import Channel
from fakes.graph_api import running_graph_api
from tests.billing.conftest import utc
from tests.conftest import META_API_FIXTURES
from tests.factories import CloudChannelFactory

DAY = dt.date(2026, 11, 10)
DAY_START = 1794279600  # 2026-11-10 00:00 in São Paulo (03:00 UTC)
MORNING_AFTER = utc(2026, 11, 11, 12)  # 09:00 in São Paulo: yesterday is due
NUMBER = "554430300000"  # the channel's display number, as Meta's analytics name it


def point(category: str, volume: int, cost: float | None = None, *, pricing_type: str = "REGULAR", **more):
    """One of Meta's data points of ``DAY`` (its shape in Meta's analytics reference)."""
    found = {"start": DAY_START + 3600, "phone_number": NUMBER, "country": "BR", "pricing_category": category}
    found |= {"pricing_type": pricing_type, "volume": volume, **more}
    if pricing_type == "REGULAR":
        found.setdefault("tier", "0:MAX")
    if cost is not None:
        found["cost"] = cost
    return found


@pytest.fixture
def graph():
    with running_graph_api(errors=META_API_FIXTURES) as server:
        yield server


@pytest.fixture
def channel(db, graph, time_machine):
    """A Cloud channel on the fake, connected in October (São Paulo time)."""
    time_machine.move_to(utc(2026, 10, 1, 12), tick=False)
    found = CloudChannelFactory(api_base_url=graph.url, display_number="+55 44 3030-0000")
    time_machine.move_to(MORNING_AFTER, tick=False)
    return found


def fields_of(request) -> str:
    return parse_qs(urlsplit(request.path).query).get("fields", [""])[0]


def analytics_requests(graph) -> list:
    return [r for r in graph.requests if fields_of(r).startswith("pricing_analytics")]


def figures(channel) -> dict:
    rows = MetaSpend.objects.filter(company=channel.company, day=DAY).order_by("category")
    return {
        row.category: (row.volume, row.charged_volume, row.cost, row.rate_card_cost, row.channel_id) for row in rows
    }


def test_the_job_stores_meta_s_figures_of_the_company_s_yesterday(graph, channel):
    graph.seed_pricing_analytics(
        channel.waba_id,
        [
            point("MARKETING", 4, 0.25),
            point("MARKETING", 2, 0.125, start=DAY_START + 7200),
            point("SERVICE", 3, 0, pricing_type="FREE_CUSTOMER_SERVICE"),
        ],
    )
    assert tasks.reconcile_with_meta() >= 1
    (request,) = [r for r in analytics_requests(graph) if f"start({DAY_START})" in fields_of(r)]
    assert fields_of(request) == (
        f"pricing_analytics.start({DAY_START}).end({DAY_START + 86400}).granularity(DAILY)"
        ".dimensions(PRICING_CATEGORY,PRICING_TYPE,TIER,COUNTRY,PHONE)"
    )
    assert urlsplit(request.path).path == f"/{channel.api_version}/{channel.waba_id}"
    assert request.authorization == f"Bearer {channel.access_token}"
    assert channel.access_token not in request.path
    assert figures(channel) == {
        "marketing": (6, 6, Decimal("0.375"), Decimal("0.375"), channel.pk),
        "service": (3, 0, Decimal(0), Decimal(0), channel.pk),
    }
    service = MetaSpend.objects.get(category="service")
    assert (service.free_customer_service_volume, service.market, service.currency) == (3, "BR", "USD")
    fetch = MetaFetch.objects.get(company=channel.company, day=DAY)
    assert (fetch.state, fetch.has_cost, fetch.error, fetch.waba_id) == ("ok", True, "", channel.waba_id)


def test_the_job_asks_for_the_days_before_yesterday_it_never_had_and_never_twice(graph, channel):
    tasks.reconcile_with_meta()
    asked = sorted(MetaFetch.objects.values_list("day", flat=True))
    assert asked == [DAY - dt.timedelta(days=2), DAY - dt.timedelta(days=1), DAY]
    assert len(analytics_requests(graph)) == 3
    assert tasks.reconcile_with_meta() == 0
    assert len(analytics_requests(graph)) == 3


def test_before_the_morning_yesterday_is_not_asked_yet(graph, channel, time_machine):
    time_machine.move_to(utc(2026, 11, 11, 7), tick=False)  # 04:00 in São Paulo
    tasks.reconcile_with_meta()
    assert DAY not in set(MetaFetch.objects.values_list("day", flat=True))


def test_no_day_before_the_channel_was_connected_is_asked(graph, channel):
    Channel.objects.filter(pk=channel.pk).update(created_at=utc(2026, 11, 10, 12))
    tasks.reconcile_with_meta()
    assert list(MetaFetch.objects.values_list("day", flat=True)) == [DAY]


def test_inactive_channels_and_companies_are_not_asked(graph, channel):
    other = CloudChannelFactory(api_base_url=graph.url, is_active=False)
    channel.company.status = "inactive"
    channel.company.save()
    tasks.reconcile_with_meta()
    assert analytics_requests(graph) == [] and not MetaFetch.objects.filter(company=other.company).exists()


def test_a_rerun_replaces_the_day_s_figures(graph, channel):
    graph.seed_pricing_analytics(channel.waba_id, [point("MARKETING", 4, 0.25), point("UTILITY", 1, 0.0068)])
    call_command("reconcile_spend", "--since", DAY.isoformat())
    graph.seed_pricing_analytics(channel.waba_id, [point("MARKETING", 5, 0.3125)])
    call_command("reconcile_spend", "--since", DAY.isoformat())
    assert figures(channel) == {"marketing": (5, 5, Decimal("0.3125"), Decimal("0.3125"), channel.pk)}
    assert MetaFetch.objects.filter(day=DAY).count() == 1


def test_volumes_without_cost_are_priced_with_the_rate_card(graph, channel):
    """A WABA on a Solution Partner's credit line: Meta gives no cost (Meta's analytics page)."""
    graph.seed_pricing_analytics(
        channel.waba_id,
        [point("MARKETING", 3), point("UTILITY", 2), point("SERVICE", 1, pricing_type="FREE_CUSTOMER_SERVICE")],
        with_cost=False,
    )
    call_command("reconcile_spend", "--since", DAY.isoformat())
    assert figures(channel) == {
        "marketing": (3, 3, None, Decimal("0.1875"), channel.pk),
        "service": (1, 0, None, Decimal(0), channel.pk),
        "utility": (2, 2, None, Decimal("0.0136"), channel.pk),
    }
    assert MetaFetch.objects.get(day=DAY).has_cost is False


def test_a_number_that_is_none_of_the_company_s_channels_is_kept_without_one(graph, channel):
    CloudChannelFactory(company=channel.company, waba_id=channel.waba_id, display_number="+55 44 3030-0009")
    graph.seed_pricing_analytics(
        channel.waba_id,
        [
            point("MARKETING", 1, 0.0625),
            point("UTILITY", 1, 0.0068, phone_number="554430300009"),
            point("AUTHENTICATION", 1, 0.0068, phone_number="5511900000000"),
        ],
    )
    call_command("reconcile_spend", "--since", DAY.isoformat())
    channels = dict(MetaSpend.objects.values_list("category", "channel_id"))
    second = Channel.objects.get(display_number="+55 44 3030-0009")
    assert channels == {"marketing": channel.pk, "utility": second.pk, "authentication": None}


# ------------------------------------------------------------------------------ the lock


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_do_the_work_once(graph, time_machine):
    time_machine.move_to(utc(2026, 10, 1, 12), tick=False)
    channel = CloudChannelFactory(api_base_url=graph.url)
    time_machine.move_to(MORNING_AFTER, tick=False)
    graph.delay = 0.3  # the first run is still asking Meta when the second starts
    start, results, failures = threading.Barrier(2), [], []

    def run() -> None:
        try:
            start.wait()
            results.append(tasks.reconcile_with_meta())
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(results, key=str) == [3, None]  # one run did the three days; the other found the lock held
    assert len(analytics_requests(graph)) == 3
    assert MetaFetch.objects.filter(company=channel.company, state="ok").count() == 3


# ------------------------------------------------------------------------------ errors


def test_an_expired_token_is_reported_and_not_retried_until_the_channel_changes(graph, channel, caplog, time_machine):
    caplog.set_level(logging.DEBUG)
    graph.seed_pricing_analytics(channel.waba_id, [point("MARKETING", 4, 0.25)])
    graph.fail_pricing_analytics(3, "error_190_token_expired")
    assert tasks.reconcile_with_meta() == 0
    fetch = MetaFetch.objects.get(day=DAY)
    assert (fetch.state, fetch.retryable, fetch.error_code, fetch.attempts) == ("failed", False, "190", 1)
    assert "Error validating access token: Session has expired" in fetch.error and "190" in fetch.error
    assert not MetaSpend.objects.exists()
    assert channel.access_token not in caplog.text and "190" in caplog.text
    tasks.reconcile_with_meta()
    assert len(analytics_requests(graph)) == 3  # not asked again with the same token
    time_machine.move_to(MORNING_AFTER + dt.timedelta(hours=1), tick=False)
    channel.access_token = "EAAG-a-new-token"
    channel.save()
    graph.clear_failures()
    tasks.reconcile_with_meta()
    assert MetaFetch.objects.get(day=DAY).state == "ok"
    assert figures(channel)["marketing"][0] == 4


def test_a_meta_server_error_is_retried_at_the_next_run(graph, channel):
    graph.seed_pricing_analytics(channel.waba_id, [point("MARKETING", 4, 0.25)])
    graph.fail_pricing_analytics(3, "error_131000_generic")
    tasks.reconcile_with_meta()
    fetch = MetaFetch.objects.get(day=DAY)
    assert (fetch.state, fetch.retryable, fetch.error_code) == ("failed", True, "131000")
    assert "Something went wrong" in fetch.error
    assert tasks.reconcile_with_meta() == 3
    assert figures(channel)["marketing"][:3] == (4, 4, Decimal("0.25"))
    assert MetaFetch.objects.get(day=DAY).attempts == 0


def test_retries_stop_after_the_last_attempt(graph, channel):
    graph.fail_pricing_analytics(1000, "error_131000_generic")
    for _ in range(reconciliation.MAX_ATTEMPTS + 2):
        tasks.reconcile_with_meta()
    assert MetaFetch.objects.get(day=DAY).attempts == reconciliation.MAX_ATTEMPTS


def test_a_timeout_is_retryable_and_writes_nothing(graph, channel, monkeypatch):
    monkeypatch.setattr(meta_analytics, "TIMEOUT", (2, 0.2))
    graph.delay = 1.0
    graph.seed_pricing_analytics(channel.waba_id, [point("MARKETING", 4, 0.25)])
    with pytest.raises(CommandError, match="1 days could not be fetched"):
        call_command("reconcile_spend", "--since", DAY.isoformat())
    fetch = MetaFetch.objects.get(day=DAY)
    assert (fetch.state, fetch.retryable, fetch.error_code) == ("failed", True, "timeout")
    assert not MetaSpend.objects.exists()


def test_a_failed_refetch_keeps_the_last_good_figures(graph, channel):
    graph.seed_pricing_analytics(channel.waba_id, [point("MARKETING", 4, 0.25)])
    call_command("reconcile_spend", "--since", DAY.isoformat())
    graph.seed_pricing_analytics(channel.waba_id, [point("MARKETING", 9, 0.5625)])
    graph.fail_pricing_analytics(1, "error_131000_generic")
    with pytest.raises(CommandError):
        call_command("reconcile_spend", "--since", DAY.isoformat())
    assert figures(channel)["marketing"][:3] == (4, 4, Decimal("0.25"))
    fetch = MetaFetch.objects.get(day=DAY)
    assert fetch.state == "ok" and "Something went wrong" in fetch.error


@pytest.mark.parametrize(
    "body",
    [
        {"pricing_analytics": {"data": "nonsense"}, "id": "1"},
        {"pricing_analytics": {"data": [{"data_points": [{"volume": -3}]}]}, "id": "1"},
        {"pricing_analytics": {"data": [{"data_points": [{"volume": 1, "cost": "a lot"}]}]}, "id": "1"},
        {"error_in_disguise": True},
    ],
)
def test_an_answer_in_an_unexpected_shape_fails_the_day_whole(graph, channel, body):
    graph.fail_pricing_analytics(1, {"http_status": 200, "body": body})
    with pytest.raises(CommandError):
        call_command("reconcile_spend", "--since", DAY.isoformat())
    fetch = MetaFetch.objects.get(day=DAY)
    assert (fetch.state, fetch.error_code, fetch.retryable) == ("failed", "bad_response", False)
    assert not MetaSpend.objects.exists()


def test_a_channel_whose_base_url_answers_nothing_is_reported(graph, channel):
    Channel.objects.filter(pk=channel.pk).update(api_base_url="http://127.0.0.1:9")
    with pytest.raises(CommandError):
        call_command("reconcile_spend", "--since", DAY.isoformat())
    fetch = MetaFetch.objects.get(day=DAY)
    assert (fetch.state, fetch.error_code, fetch.retryable) == ("failed", "connection_error", True)


# ------------------------------------------------------------------------------ the command


def test_the_command_fetches_each_day_of_a_range_and_prints_them_against_ours(graph, channel, capsys):
    graph.seed_pricing_analytics(channel.waba_id, [point("MARKETING", 2, 0.125)])
    call_command(
        "reconcile_spend", "--since", "2026-11-09", "--until", "2026-11-10", "--company", str(channel.company_id)
    )
    out = capsys.readouterr().out
    assert f"2026-11-09 WABA {channel.waba_id}: fetched" in out
    assert f"2026-11-10 WABA {channel.waba_id}: fetched" in out
    assert "2026-11-10 marketing      ours 0 for 0 USD; Meta 2 for 0.125  <- differs" in out
    assert sorted(MetaFetch.objects.values_list("day", flat=True)) == [dt.date(2026, 11, 9), DAY]


def test_the_command_refuses_a_company_without_a_cloud_waba_and_a_backwards_range(channel):
    with pytest.raises(CommandError, match="No active company"):
        call_command("reconcile_spend", "--company", "999999")
    with pytest.raises(CommandError, match="--until must be on or after --since"):
        call_command("reconcile_spend", "--since", "2026-11-10", "--until", "2026-11-01")
