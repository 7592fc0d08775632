"""Demo data for `make run`: a superuser, a company with a console channel and a fake ERP, and keys."""

import os
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from companies import keys, services
from companies.models import ApiKey, Channel, Company, PlatformToken
from templates_meta.services import create_default_drafts

DEMO_CONTRACT = uuid.UUID("1220f3e9-f792-40cd-937a-f9fc6f79395f")  # the seed's example company
# Fixed so `make run` can print them every time; load_demo refuses to run in production.
DEMO_API_KEY = "pnt_demo-local-only-not-a-real-key-0000000000"
DEMO_PLATFORM_TOKEN = "pnts_demo-local-only-not-a-real-token-000000000"  # noqa: S105


class Command(BaseCommand):
    help = "Create (or refresh) the local demo data; refuses to run with DJANGO_ENV=production."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        if settings.IS_PRODUCTION:
            raise CommandError("load_demo creates well-known credentials and never runs in production.")
        username = os.environ.get("DEMO_ADMIN_USERNAME", "admin")
        password = os.environ.get("DEMO_ADMIN_PASSWORD", "admin")
        user_model = get_user_model()
        admin = user_model.objects.filter(username=username).first()
        if admin is None:
            admin = user_model.objects.create_superuser(username=username, email="admin@example.com", password=password)
        elif not admin.check_password(password):
            password = "(changed since it was created)"  # noqa: S105  (a note, not a password)

        company = Company.objects.filter(contract=DEMO_CONTRACT).first() or services.create_company(
            data={
                "contract": DEMO_CONTRACT,
                "name": "Provedor Demo",
                "support_phone": "(44) 98888-8888",
                "business_hours": {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
                | {"sat": [["08:00", "12:00"]]},
                "erp_system": Company.ErpSystem.FAKE,
                "meta_verify_token": "demo-verify-token",
                "meta_app_secret": "demo-app-secret",
            }
        )
        if not company.channels.exists():
            services.create_channel(
                company=company,
                data={
                    "kind": Channel.Kind.CONSOLE,
                    "name": "Atendimento (console)",
                    "display_number": "+55 44 3030-0000",
                },
            )
        create_default_drafts(company=company)
        if not ApiKey.objects.filter(key_hash=keys.hash_key(DEMO_API_KEY)).exists():
            ApiKey.objects.create(
                company=company,
                name="Demo key",
                prefix=DEMO_API_KEY[: keys.SHOWN_PREFIX_LENGTH],
                key_hash=keys.hash_key(DEMO_API_KEY),
            )
        if not PlatformToken.objects.filter(key_hash=keys.hash_key(DEMO_PLATFORM_TOKEN)).exists():
            PlatformToken.objects.create(
                user=admin,
                name="Demo platform token",
                prefix=DEMO_PLATFORM_TOKEN[: keys.SHOWN_PREFIX_LENGTH],
                key_hash=keys.hash_key(DEMO_PLATFORM_TOKEN),
            )
        self.stdout.write(
            self.style.SUCCESS(
                "\n  Demo data ready\n"
                f"  Admin login     {username} / {password}\n"
                f"  Company         {company.name} (contract {company.contract})\n"
                f"  API key         {DEMO_API_KEY}\n"
                f"  Platform token  {DEMO_PLATFORM_TOKEN}\n"
            )
        )
