"""Meta's ``pricing`` object of a status receipt, per-message (PMP) or conversation-based (CBP), read as one shape.

https://developers.facebook.com/docs/whatsapp/pricing and the status webhook reference: ``type`` (since
2025-07-01) says whether the message is charged (``regular``) or free and why; ``billable`` is its older,
deprecated form, the only one a conversation-based receipt carries; ``category`` is the rate applied, with
``authentication-international`` hyphenated in webhooks.
"""

from dataclasses import dataclass
from typing import Any

from billing.models import Category, FreeReason, PricingType, SpendEntry

MAX_CATEGORY = 32

FREE_BY_TYPE = {
    PricingType.REGULAR: FreeReason.NONE,
    PricingType.FREE_CUSTOMER_SERVICE: FreeReason.CUSTOMER_SERVICE,
    PricingType.FREE_ENTRY_POINT: FreeReason.ENTRY_POINT,
    PricingType.NOT_BILLABLE: FreeReason.NOT_BILLABLE,
}


@dataclass(frozen=True)
class MetaPricing:
    category: str
    type: str
    model: str

    @property
    def free_reason(self) -> str:
        return FREE_BY_TYPE.get(self.type, FreeReason.NONE)


def normalize_category(value: Any) -> str:
    return str(value or "").strip().lower().replace("-", "_")[:MAX_CATEGORY]


def read_pricing(pricing: dict[str, Any]) -> MetaPricing:
    """Meta's pricing object as category, type and model; a type Meta did not send is read from ``billable``."""
    category = normalize_category(pricing.get("category"))
    model = str(pricing.get("pricing_model") or "").upper()
    model = model if model in SpendEntry.PricingModel.values else ""
    kind = str(pricing.get("type") or "").lower()
    if kind not in PricingType.values:
        if category == Category.REFERRAL_CONVERSION:
            kind = PricingType.FREE_ENTRY_POINT
        elif pricing.get("billable") is False:
            kind = PricingType.NOT_BILLABLE
        else:
            kind = PricingType.REGULAR
    return MetaPricing(category=category or Category.SERVICE, type=kind, model=model)
