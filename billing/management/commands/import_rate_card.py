"""Import Meta's rate-card CSV (https://developers.facebook.com/docs/whatsapp/pricing) into the rate card::

python manage.py import_rate_card whatsapp_rates_usd.csv --valid-from 2026-10-01
python manage.py import_rate_card whatsapp_rates_brl.csv --valid-from 2026-10-01 --currency BRL --dry-run
"""

import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.models import Currency
from billing.rate_card_csv import RateCardError, parse_rate_card
from billing.services.rate_card import import_rates


class Command(BaseCommand):
    help = "Import Meta's rate-card CSV: each rate takes effect on its date and ends the one it replaces."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--valid-from", type=dt.date.fromisoformat, help="when the file gives no date")
        parser.add_argument("--currency", choices=Currency.values, help="when the file gives no currency")
        parser.add_argument("--dry-run", action="store_true", help="read and report, store nothing")

    def handle(self, *args, path: Path, valid_from, currency, dry_run: bool, **options) -> None:
        try:
            parsed = parse_rate_card(path.read_text(encoding="utf-8-sig"), valid_from=valid_from, currency=currency)
        except (OSError, RateCardError) as exc:
            raise CommandError(str(exc)) from exc
        for reason in parsed.skipped:
            self.stderr.write(f"skipped {reason}")
        if dry_run:
            self.stdout.write(f"{len(parsed.rows)} rates read, none stored (dry run).")
            return
        done = import_rates(rows=parsed.rows, source=f"Meta rate card CSV: {path.name}")
        self.stdout.write(
            f"{len(parsed.rows)} rates read: {done.created} new, {done.updated} updated, {done.ended} ended."
        )
