"""Meta's figures beside ours: each company's day of each WABA's pricing analytics, fetched and stored whole.

A day is the company's (its time zone), as its spend totals' days are. The request goes out before any
transaction; its answer replaces the day's figures of that WABA in one transaction with the fetch's row,
which is locked first, so a rerun (the job's, the command's) replaces and never adds up, and a failure
leaves the last good figures as they were. ``run_due`` is the daily job: from ``RECONCILE_HOUR`` in the
company's time zone it asks for yesterday, and for the days before it that never came, trying again what a
retry may fix and what failed before the channel's credentials changed.
"""

import datetime as dt
import logging
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from billing.meta_analytics import AnalyticsError, DataPoint, PricingAnalyticsClient
from billing.models import BillingAccount, Currency, MetaFetch, MetaSpend, PricingType
from billing.rates import RateCard
from companies.models import Channel, Company
from config.masking import mask_text

logger = logging.getLogger(__name__)

# Meta's daily figures settle some hours after the day ends ("data are approximate"): ask in the morning.
RECONCILE_HOUR = 6
LOOKBACK_DAYS = 3  # the days before yesterday whose fetch failed or never ran (a worker down) are asked too
MAX_ATTEMPTS = 6  # a retryable failure is tried again at each run, this many times at most
ZERO = Decimal(0)


def day_bounds(day: dt.date, time_zone: str) -> tuple[dt.datetime, dt.datetime]:
    """The company's ``day`` as the instants it starts and ends (the next day's start)."""
    zone = zoneinfo.ZoneInfo(time_zone)
    start = dt.datetime.combine(day, dt.time(), tzinfo=zone)
    return start, dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=zone)


def currency_of(company: Company) -> str:
    """The currency Meta bills the company in (its WABAs', in which pricing analytics give the cost)."""
    found = BillingAccount.objects.filter(company=company).values_list("currency", flat=True).first()
    return found or Currency.USD


def wabas_of(channels: Iterable[Channel]) -> dict[str, list[Channel]]:
    """The WABAs of these Cloud channels, each with its channels (the first one's token is used)."""
    found: dict[str, list[Channel]] = defaultdict(list)
    for channel in sorted(channels, key=lambda c: c.pk):
        if channel.kind == Channel.Kind.CLOUD and channel.waba_id:
            found[channel.waba_id].append(channel)
    return dict(found)


def cloud_channels(company_ids: Iterable[int] | None = None) -> list[Channel]:
    """The active Cloud channels with a WABA, of active companies (of ``company_ids`` when given)."""
    rows = (
        Channel.objects.filter(kind=Channel.Kind.CLOUD, is_active=True, company__status=Company.Status.ACTIVE)
        .exclude(waba_id="")
        .select_related("company")
        .order_by("pk")
    )
    return list(rows if company_ids is None else rows.filter(company_id__in=list(company_ids)))


# ------------------------------------------------------------------------------ one day of one WABA


def reconcile_day(*, company: Company, day: dt.date, waba_id: str, channels: Sequence[Channel]) -> MetaFetch:
    """Ask Meta for the day's figures of ``waba_id`` and store them, or record why they did not come."""
    start, end = day_bounds(day, company.timezone)
    try:
        points = PricingAnalyticsClient(channels[0]).fetch(waba_id, start, end)
    except AnalyticsError as exc:
        logger.warning(
            "Pricing analytics of company %s, WABA %s, %s failed: %s", company.pk, waba_id, day, mask_text(str(exc))
        )
        return record_failed_fetch(company=company, waba_id=waba_id, day=day, error=exc)
    return store_meta_figures(company=company, waba_id=waba_id, day=day, points=points, channels=channels)


def _locked_fetch(company: Company, waba_id: str, day: dt.date, now: dt.datetime) -> MetaFetch:
    """The day's fetch row, made when missing, locked until the caller's transaction ends."""
    fetch, _ = MetaFetch.objects.get_or_create(
        company=company, waba_id=waba_id, day=day, defaults={"state": MetaFetch.State.FAILED, "attempted_at": now}
    )
    return MetaFetch.objects.select_for_update().get(pk=fetch.pk)


def store_meta_figures(
    *,
    company: Company,
    waba_id: str,
    day: dt.date,
    points: Sequence[DataPoint],
    channels: Sequence[Channel],
    now: dt.datetime | None = None,
) -> MetaFetch:
    """Replace the day's figures of ``waba_id`` with Meta's ``points``, and mark the day fetched."""
    now = now or timezone.now()
    currency = currency_of(company)
    rows = _figures(company, waba_id, day, points, channels, currency, now)
    with transaction.atomic():
        fetch = _locked_fetch(company, waba_id, day, now)
        MetaSpend.objects.filter(company=company, day=day, waba_id=waba_id).delete()
        MetaSpend.objects.bulk_create(rows)
        fetch.state, fetch.attempts, fetch.attempted_at, fetch.fetched_at = MetaFetch.State.OK, 0, now, now
        fetch.has_cost = all(point.cost is not None for point in points)
        fetch.error, fetch.error_code, fetch.retryable = "", "", False
        fetch.save()
    return fetch


def record_failed_fetch(
    *, company: Company, waba_id: str, day: dt.date, error: AnalyticsError, now: dt.datetime | None = None
) -> MetaFetch:
    """Note why the day's figures did not come; figures of an earlier good fetch stay as they were."""
    now = now or timezone.now()
    with transaction.atomic():
        fetch = _locked_fetch(company, waba_id, day, now)
        fetch.attempts += 1
        fetch.attempted_at = now
        fetch.error, fetch.error_code, fetch.retryable = error.message[:500], error.code[:32], error.retryable
        fetch.save()
    return fetch


def _figures(
    company: Company,
    waba_id: str,
    day: dt.date,
    points: Sequence[DataPoint],
    channels: Sequence[Channel],
    currency: str,
    now: dt.datetime,
) -> list[MetaSpend]:
    """Meta's points summed at the grain of our daily totals (phone number, category, country), each
    charged point priced with our rate card at the tier Meta applied."""
    card = RateCard.load(markets={p.country for p in points}, currencies={currency})
    by_number = {_digits(c.display_number): c for c in channels if _digits(c.display_number)}
    only = channels[0] if len(channels) == 1 else None
    rows: dict[tuple[str, str, str], MetaSpend] = {}
    for point in points:
        key = (point.phone_number, point.category, point.country)
        row = rows.get(key)
        if row is None:
            channel = by_number.get(point.phone_number, only)
            row = rows[key] = MetaSpend(
                company=company,
                day=day,
                waba_id=waba_id,
                phone_number=point.phone_number,
                channel_id=channel.pk if channel else None,
                category=point.category,
                market=point.country,
                currency=currency,
                cost=ZERO,
                fetched_at=now,
            )
        row.volume += point.volume
        if point.pricing_type == PricingType.REGULAR:
            row.charged_volume += point.volume
            price = card.price(point.country, point.category, currency, day, nth=_tier_start(point.tier))
            row.rate_card_cost += price.unit_price * point.volume
            row.is_priced = row.is_priced and (price.rate is not None or not point.volume)
        elif point.pricing_type == PricingType.FREE_CUSTOMER_SERVICE:
            row.free_customer_service_volume += point.volume
        elif point.pricing_type == PricingType.FREE_ENTRY_POINT:
            row.free_entry_point_volume += point.volume
        row.cost = None if row.cost is None or point.cost is None else row.cost + point.cost
    return list(rows.values())


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def _tier_start(tier: str) -> int:
    """The first message number of Meta's ``lower:upper`` tier (0: the first tier)."""
    lower = tier.partition(":")[0]
    return int(lower) if lower.isdigit() else 0


# ------------------------------------------------------------------------------ ranges and the daily job


@dataclass(frozen=True)
class Due:
    company: Company
    day: dt.date
    waba_id: str
    channels: tuple[Channel, ...]


def reconcile(*, company: Company, days: Iterable[dt.date]) -> list[MetaFetch]:
    """Fetch again every WABA of the company for each of ``days`` (the command's), whatever was fetched."""
    wabas = wabas_of(cloud_channels([company.pk]))
    return [
        reconcile_day(company=company, day=day, waba_id=waba_id, channels=channels)
        for day in days
        for waba_id, channels in wabas.items()
    ]


def _is_due(fetch: MetaFetch | None, channels: Sequence[Channel]) -> bool:
    if fetch is None:
        return True
    if fetch.state == MetaFetch.State.OK:
        return False
    if any(channel.updated_at > fetch.attempted_at for channel in channels):
        return True  # new credentials (or base URL) since it failed: worth one more try
    return fetch.retryable and fetch.attempts < MAX_ATTEMPTS


def list_due(*, now: dt.datetime | None = None) -> list[Due]:
    """The days of each WABA the daily job should fetch now."""
    now = now or timezone.now()
    channels = cloud_channels()
    by_company: dict[int, list[Channel]] = defaultdict(list)
    for channel in channels:
        by_company[channel.company_id].append(channel)
    oldest = now.date() - dt.timedelta(days=LOOKBACK_DAYS + 2)
    fetches = {
        (f.company_id, f.waba_id, f.day): f
        for f in MetaFetch.objects.filter(company_id__in=list(by_company), day__gte=oldest)
    }
    due = []
    for company_channels in by_company.values():
        company = company_channels[0].company
        zone = zoneinfo.ZoneInfo(company.timezone)
        local = now.astimezone(zone)
        latest = local.date() - dt.timedelta(days=1 if local.hour >= RECONCILE_HOUR else 2)
        for waba_id, waba_channels in wabas_of(company_channels).items():
            first = min(c.created_at for c in waba_channels).astimezone(zone).date()
            for back in range(LOOKBACK_DAYS):
                day = latest - dt.timedelta(days=back)
                if day >= first and _is_due(fetches.get((company.pk, waba_id, day)), waba_channels):
                    due.append(Due(company, day, waba_id, tuple(waba_channels)))
    return due


def run_due(*, now: dt.datetime | None = None) -> int:
    """The daily job: fetch what is due; one failing WABA does not stop the others. Returns days fetched."""
    fetched = 0
    for item in list_due(now=now):
        fetch = reconcile_day(company=item.company, day=item.day, waba_id=item.waba_id, channels=item.channels)
        if not fetch.error:  # a failure always says why
            fetched += 1
    return fetched
