"""Recompute the spend totals from their entries and report any difference (``--fix`` repairs them)::

python manage.py recompute_spend_totals
python manage.py recompute_spend_totals --company 12 --fix
"""

from django.core.management.base import BaseCommand, CommandParser

from billing.services import totals


class Command(BaseCommand):
    help = "Compare the spend totals with the sum of their entries; with --fix, make them equal."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--company", type=int, action="append", help="a company id (repeatable); default all")
        parser.add_argument("--fix", action="store_true", help="repair the totals that differ")

    def handle(self, *args, company, fix: bool, **options) -> None:
        found = totals.recompute(company_ids=company, fix=fix)
        for difference in found:
            self.stdout.write(
                f"{difference.table} {difference.key}: {difference.field} is {difference.stored},"
                f" the entries add up to {difference.expected}"
            )
        if not found:
            self.stdout.write("The totals equal their entries.")
        else:
            self.stdout.write(f"{len(found)} differences" + (", fixed." if fix else " (run with --fix to repair)."))
