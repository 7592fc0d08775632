"""Writing the rate card: a card read from Meta's CSV takes effect on its date and ends the rows it replaces."""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from billing.models import Rate
from billing.rate_card_csv import CardRow


@dataclass(frozen=True)
class Imported:
    created: int
    updated: int
    ended: int


def import_rates(*, rows: Iterable[CardRow], source: str) -> Imported:
    """Store ``rows`` (one card, or several dates of one); each ends the rows of its market, category and
    currency that were in force when it starts. Returns how many rows were created, updated and ended."""
    rows = list(rows)
    created = updated = ended = 0
    with transaction.atomic():
        starts = {(r.market, r.category, r.currency, r.valid_from) for r in rows}
        for market, category, currency, valid_from in sorted(starts):
            ended += (
                Rate.objects.filter(market=market, category=category, currency=currency, valid_from__lt=valid_from)
                .filter(Q(valid_to__isnull=True) | Q(valid_to__gte=valid_from))
                .update(valid_to=valid_from - dt.timedelta(days=1))
            )
        for row in rows:
            _, was_created = Rate.objects.update_or_create(
                market=row.market,
                category=row.category,
                currency=row.currency,
                valid_from=row.valid_from,
                tier_from=row.tier_from,
                defaults={"price": row.price, "tier_to": row.tier_to, "source": source[:200]},
            )
            created += was_created
            updated += not was_created
    return Imported(created, updated, ended)
