"""Fetch Meta's pricing analytics for a range of days by hand, and show them against ours::

python manage.py reconcile_spend                      # yesterday, every company with a Cloud WABA
python manage.py reconcile_spend --since 2026-11-01 --until 2026-11-30 --company 12

Each day of each WABA is asked again and replaces what was stored for it (the daily job skips days it
has); days are the company's. It ends with an error when any day could not be fetched.
"""

import datetime as dt
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.reconciliation import list_differences
from billing.selectors import today_for
from billing.services import reconciliation
from companies.models import Company

MAX_DAYS = 366  # Meta keeps pricing analytics for a year


class Command(BaseCommand):
    help = "Fetch Meta's pricing analytics for each day from --since to --until and compare them with our spend."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=dt.date.fromisoformat, help="first day (YYYY-MM-DD); default yesterday")
        parser.add_argument("--until", type=dt.date.fromisoformat, help="last day (YYYY-MM-DD); default --since")
        parser.add_argument("--company", type=int, action="append", help="a company id (repeatable); default all")

    def handle(self, *args, since: dt.date | None, until: dt.date | None, company: list[int] | None, **options) -> None:
        channels = reconciliation.cloud_channels(company)
        companies = {channel.company_id: channel.company for channel in channels}
        if company and (unknown := sorted(set(company) - companies.keys())):
            raise CommandError(f"No active company with an active Cloud WABA: {', '.join(map(str, unknown))}.")
        if not companies:
            self.stdout.write("No active company has an active Cloud channel with a WABA: nothing to fetch.")
        failed = 0
        for found in sorted(companies.values(), key=lambda c: c.pk):
            first = since or today_for(found.pk) - dt.timedelta(days=1)
            last = until or first
            if last < first or (last - first).days >= MAX_DAYS:
                raise CommandError(f"--until must be on or after --since, and at most {MAX_DAYS} days after it.")
            failed += self._reconcile(found, first, last)
        if failed:
            raise CommandError(f"{failed} days could not be fetched from Meta (see above); run again to retry them.")

    def _reconcile(self, company: Company, first: dt.date, last: dt.date) -> int:
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        failed = 0
        for fetch in reconciliation.reconcile(company=company, days=days):
            if fetch.error:
                failed += 1
                self.stdout.write(f"{company} {fetch.day} WABA {fetch.waba_id}: failed: {fetch.error}")
            else:
                cost = "" if fetch.has_cost else " (volumes only: priced with our rate card)"
                self.stdout.write(f"{company} {fetch.day} WABA {fetch.waba_id}: fetched{cost}")
        for row in list_differences(company.pk, first, last):
            meta = (
                f"Meta {row.meta_volume} for {_money(row.meta_amount)}{' at our rate card' if row.priced_by_us else ''}"
                if row.meta_volume is not None
                else f"Meta {row.meta_state}"
            )
            ours = f"ours {row.ours_count} for {_money(row.ours_amount)} {row.currency}"
            mark = "" if row.matches else "  <- differs"
            self.stdout.write(f"  {row.day} {row.category:<14} {ours}; {meta}{mark}")
        return failed


def _money(amount: Decimal | None) -> str:
    """As short as it is exact, the same from every database (PostgreSQL keeps trailing zeros)."""
    return "" if amount is None else format(amount.normalize(), "f")
