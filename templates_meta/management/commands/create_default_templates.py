"""Create the pt_BR draft templates (one per purpose) for a company, to edit and submit from the panel."""

from django.core.management.base import BaseCommand, CommandError

from companies.cache import get_company_by_contract
from companies.models import Company
from templates_meta.services import create_default_drafts


class Command(BaseCommand):
    help = "Create draft templates for every purpose (billing, contract events, reopen, inactivity, agent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("contract", nargs="?", help="The company's contract; all companies when omitted.")

    def handle(self, *args, contract: str | None = None, **options) -> None:
        if contract:
            company = get_company_by_contract(contract)
            if company is None:
                raise CommandError(f"No company with contract {contract!r}.")
            companies = [Company.objects.get(pk=company.pk)]
        else:
            companies = list(Company.objects.all())
        for company in companies:
            created = create_default_drafts(company=company)
            self.stdout.write(f"{company}: {len(created)} draft templates created.")
