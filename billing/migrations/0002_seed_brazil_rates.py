"""Meta's published Brazil rates (USD per delivered message) and the free allowances, with their dates.

Source: "Pricing on the WhatsApp Business Platform", https://developers.facebook.com/docs/whatsapp/pricing
(updated 2026-07-01) and its "Upcoming pricing updates for ... service and utility messages": utility and
authentication at 0.0068 ("the current published rate for utility and authentication messages to users in
Brazil"), marketing 0.0625, service messages free until 2026-09-30 and charged at the utility rate, without
volume tiers, from 2026-10-01. The conversation-based rows (before 2025-07-01, priced per 24 h
conversation) come from public third-party rate tables and only price old records. Meta has published no
BRL numbers we could read: a BRL account's rates are imported from Meta's CSV (``import_rate_card``).
"""

import datetime as dt
from decimal import Decimal

from django.db import migrations

PRICING_PAGE = "https://developers.facebook.com/docs/whatsapp/pricing"
CBP_SOURCE = "conversation-based rates, public third-party tables (old records only)"

CBP_FROM, CBP_TO = dt.date(2024, 11, 1), dt.date(2025, 6, 30)
PMP_FROM = dt.date(2025, 7, 1)
SERVICE_FREE_TO, SERVICE_CHARGED_FROM = dt.date(2026, 9, 30), dt.date(2026, 10, 1)

RATES = [
    # (category, price, valid_from, valid_to, source)
    ("marketing", "0.0625", CBP_FROM, CBP_TO, CBP_SOURCE),
    ("utility", "0.0080", CBP_FROM, CBP_TO, CBP_SOURCE),
    ("authentication", "0.0315", CBP_FROM, CBP_TO, CBP_SOURCE),
    # Service conversations became free on 2024-11-01, and stayed free under per-message pricing.
    ("service", "0", CBP_FROM, SERVICE_FREE_TO, PRICING_PAGE),
    ("marketing", "0.0625", PMP_FROM, None, PRICING_PAGE),
    ("utility", "0.0068", PMP_FROM, None, PRICING_PAGE),
    ("authentication", "0.0068", PMP_FROM, None, PRICING_PAGE),
    ("service", "0.0068", SERVICE_CHARGED_FROM, None, PRICING_PAGE),
]

ALLOWANCES = [
    # Utility templates inside an open customer service window were free from 2025-07-01 to 2026-09-30.
    {
        "kind": "inside_window",
        "category": "utility",
        "valid_from": PMP_FROM,
        "valid_to": SERVICE_FREE_TO,
        "is_active": True,
        "source": PRICING_PAGE,
    },
    # Some calculators model the first 1,000 service messages per phone number per month as free from
    # 2026-10-01; Meta's page does not say so: kept as data, off until Meta confirms it.
    {
        "kind": "monthly_per_number",
        "category": "service",
        "monthly_count": 1000,
        "valid_from": SERVICE_CHARGED_FROM,
        "valid_to": None,
        "is_active": False,
        "source": "third-party calculators; unconfirmed by Meta",
    },
]


def seed(apps, schema_editor):
    Rate = apps.get_model("billing", "Rate")
    FreeAllowance = apps.get_model("billing", "FreeAllowance")
    for category, price, valid_from, valid_to, source in RATES:
        Rate.objects.update_or_create(
            market="BR",
            category=category,
            currency="USD",
            valid_from=valid_from,
            tier_from=0,
            defaults={"price": Decimal(price), "valid_to": valid_to, "source": source},
        )
    for allowance in ALLOWANCES:
        FreeAllowance.objects.get_or_create(**allowance)


def unseed(apps, schema_editor):
    Rate = apps.get_model("billing", "Rate")
    FreeAllowance = apps.get_model("billing", "FreeAllowance")
    for category, _, valid_from, _, _ in RATES:
        Rate.objects.filter(market="BR", category=category, currency="USD", valid_from=valid_from).delete()
    for allowance in ALLOWANCES:
        FreeAllowance.objects.filter(kind=allowance["kind"], valid_from=allowance["valid_from"]).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_spend")]

    operations = [migrations.RunPython(seed, unseed)]
