"""Demo data for `make run`: a superuser, a company on the fake ERP, its channels, draft templates, keys.

The company has a Cloud channel on the fake Graph API, an Evolution channel on the fake Evolution API
(both started by `runall`) and a console channel, and its agents work in the fake Chatwoot; the names
and secrets are those of ``config.demo``.
"""

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from companies import keys, services
from companies.models import ApiKey, Channel, Company, PlatformToken
from config import demo
from templates_meta.services import create_default_drafts


def demo_channels() -> list[dict]:
    """The demo company's channels, each found again by its kind and name."""
    return [
        {
            "kind": Channel.Kind.CLOUD,
            "name": "Atendimento (Cloud API)",
            "display_number": demo.CLOUD_NUMBER,
            "api_base_url": demo.graph_api_url(),
            "phone_number_id": demo.PHONE_NUMBER_ID,
            "waba_id": demo.WABA_ID,
            "access_token": demo.CLOUD_ACCESS_TOKEN,
        },
        {
            "kind": Channel.Kind.EVOLUTION,
            "name": "Cobrança (Evolution)",
            "display_number": demo.EVOLUTION_NUMBER,
            "api_base_url": demo.evolution_url(),
            "instance_name": demo.EVOLUTION_INSTANCE,
            "api_key": demo.EVOLUTION_API_KEY,
            "send_delay_ms": 2000,
        },
        {"kind": Channel.Kind.CONSOLE, "name": "Atendimento (console)", "display_number": "+55 44 3030-0000"},
    ]


def demo_erp() -> dict:
    """The fake ERP (in IXC Soft's shapes) and the fake SMS gateway `runall` starts."""
    return {
        "erp_system": Company.ErpSystem.IXC,
        "erp_base_url": demo.erp_url(),
        "erp_username": demo.ERP_USER,
        "erp_token": demo.ERP_TOKEN,
        "sms_url_template": demo.sms_url_template(),
        "sms_username": demo.SMS_USER,
        "sms_password": demo.SMS_PASSWORD,
    }


def demo_chatwoot() -> dict:
    """The fake Chatwoot `runall` starts: its account, its API inbox, the token and the webhook URL's secret."""
    return {
        "chatwoot_base_url": demo.chatwoot_url(),
        "chatwoot_account_id": demo.CHATWOOT_ACCOUNT_ID,
        "chatwoot_inbox_id": demo.CHATWOOT_INBOX_ID,
        "chatwoot_api_token": demo.CHATWOOT_API_TOKEN,
        "chatwoot_webhook_secret": demo.CHATWOOT_WEBHOOK_SECRET,
        "chatwoot_signing_secret": demo.CHATWOOT_SIGNING_SECRET,
    }


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

        company = Company.objects.filter(contract=demo.CONTRACT).first() or services.create_company(
            data={
                "contract": demo.CONTRACT,
                "name": "Provedor Demo",
                "support_phone": "(44) 98888-8888",
                "business_hours": {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
                | {"sat": [["08:00", "12:00"]]},
                **demo_erp(),
                **demo_chatwoot(),
                "billing_reminder_days": [-3, 0, 3],
                "pix_key_type": Company.PixKeyType.CNPJ,
                "pix_key": "11222333000181",
                "pix_merchant_name": "Provedor Demo LTDA",
                "meta_verify_token": demo.META_VERIFY_TOKEN,
                "meta_app_secret": demo.META_APP_SECRET,
            }
        )
        if (company.erp_base_url, company.sms_url_template) != (demo.erp_url(), demo.sms_url_template()):
            # the fakes' ports were changed
            services.update_company(company=company, data=demo_erp())
        if (company.chatwoot_base_url, company.chatwoot_signing_secret) != (
            demo.chatwoot_url(),
            demo.CHATWOOT_SIGNING_SECRET,
        ):  # made before the fake Chatwoot signed its webhooks, or its port changed
            services.update_company(company=company, data=demo_chatwoot())
        for data in demo_channels():
            channel = company.channels.filter(kind=data["kind"], name=data["name"]).first()
            if channel is None:
                services.create_channel(company=company, data=data)
            elif channel.api_base_url != data.get("api_base_url", ""):  # the fakes' ports were changed
                services.update_channel(channel=channel, data={"api_base_url": data["api_base_url"]})
        create_default_drafts(company=company)
        if not ApiKey.objects.filter(key_hash=keys.hash_key(demo.API_KEY)).exists():
            ApiKey.objects.create(
                company=company,
                name="Demo key",
                prefix=demo.API_KEY[: keys.SHOWN_PREFIX_LENGTH],
                key_hash=keys.hash_key(demo.API_KEY),
            )
        if not PlatformToken.objects.filter(key_hash=keys.hash_key(demo.PLATFORM_TOKEN)).exists():
            PlatformToken.objects.create(
                user=admin,
                name="Demo platform token",
                prefix=demo.PLATFORM_TOKEN[: keys.SHOWN_PREFIX_LENGTH],
                key_hash=keys.hash_key(demo.PLATFORM_TOKEN),
            )
        self.stdout.write(
            self.style.SUCCESS(
                "\n  Demo data ready\n"
                f"  Admin login     {username} / {password}\n"
                f"  Company         {company.name} (contract {company.contract})\n"
                f"  API key         {demo.API_KEY}\n"
                f"  Platform token  {demo.PLATFORM_TOKEN}\n"
            )
        )
