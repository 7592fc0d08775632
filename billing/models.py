"""What Meta charges: the rate card and free allowances (data, never code), spend entries and their totals.

Meta's pricing changes on quarter days (https://developers.facebook.com/docs/whatsapp/pricing), so every
price and every free allowance is a row with the dates it is in force. A spend entry is one message's
cost, from the estimate made when it was queued to what Meta's receipts say; the totals are kept by the
same transaction that changes an entry (``billing.services.totals``), so the panel and the dashboard
read small tables, never the entries.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from companies.models import Channel, Company
from conversations.models import Message

MONEY = {"max_digits": 12, "decimal_places": 6}
TOTAL_MONEY = {"max_digits": 18, "decimal_places": 6}


class Category(models.TextChoices):
    """Meta's pricing categories (``pricing.category``), hyphen normalised to underscore."""

    MARKETING = "marketing", "Marketing"
    UTILITY = "utility", "Utility"
    AUTHENTICATION = "authentication", "Authentication"
    AUTHENTICATION_INTERNATIONAL = "authentication_international", "Authentication (international)"
    SERVICE = "service", "Service"
    # Receipts only, never on the rate card: MM API marketing, and the free entry point's category.
    MARKETING_LITE = "marketing_lite", "Marketing (MM API)"
    REFERRAL_CONVERSION = "referral_conversion", "Free entry point"


RATE_CATEGORIES = [
    Category.MARKETING,
    Category.UTILITY,
    Category.AUTHENTICATION,
    Category.AUTHENTICATION_INTERNATIONAL,
    Category.SERVICE,
]


class Currency(models.TextChoices):
    USD = "USD", "US dollar"
    # Brazilian WABAs may be billed in reais since 2026-07-01 (Meta's pricing page).
    BRL = "BRL", "Brazilian real"


class Rate(models.Model):
    """One price of Meta's rate card: per delivered message, for a market, category, currency and volume tier."""

    market = models.CharField(max_length=2, help_text="ISO 3166 country code of the recipient, e.g. BR.")
    category = models.CharField(max_length=32, choices=[(c.value, c.label) for c in RATE_CATEGORIES])
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)
    price = models.DecimalField(**MONEY, help_text="Per delivered message.")
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True, help_text="Last day in force; empty while in force.")
    # Volume tiers (utility and authentication): the month's n-th charged message of the market and category
    # is priced by the tier whose bounds hold n.
    tier_from = models.PositiveBigIntegerField(default=0, help_text="First message number of the tier.")
    tier_to = models.PositiveBigIntegerField(null=True, blank=True, help_text="Last message number; empty: no limit.")
    source = models.CharField(max_length=200, blank=True, help_text="Where the price comes from.")

    class Meta:
        ordering = ["market", "category", "currency", "-valid_from", "tier_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["market", "category", "currency", "valid_from", "tier_from"], name="rate_unique_period_tier"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.market} {self.category} {self.price} {self.currency} from {self.valid_from}"

    @property
    def tier(self) -> str:
        """The tier as Meta's analytics write it: ``lower:upper`` or ``lower:MAX``."""
        return f"{self.tier_from}:{self.tier_to if self.tier_to is not None else 'MAX'}"

    def clean(self) -> None:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValidationError({"valid_to": "Ends before it starts."})
        if self.tier_to is not None and self.tier_to < self.tier_from:
            raise ValidationError({"tier_to": "The tier ends before it starts."})
        if self.price is not None and self.price < Decimal(0):
            raise ValidationError({"price": "A price is never negative."})


class FreeAllowance(models.Model):
    """A rule that makes messages free which the rate card would charge: used to estimate what Meta will say.

    Meta's receipts say themselves whether a message was free (``pricing.type``); these rules only make the
    estimate at queue time right, and stay data because Meta changes them on quarter days.
    """

    class Kind(models.TextChoices):
        INSIDE_WINDOW = "inside_window", "Free inside the customer service window"
        MONTHLY_PER_NUMBER = "monthly_per_number", "A number of free messages per phone number per month"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    market = models.CharField(max_length=2, blank=True, help_text="Empty: every market.")
    category = models.CharField(max_length=32, choices=[(c.value, c.label) for c in RATE_CATEGORIES])
    monthly_count = models.PositiveIntegerField(null=True, blank=True, help_text="For a monthly allowance.")
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True, help_text="Last day in force; empty while in force.")
    is_active = models.BooleanField(default=True, help_text="Off for a rule Meta has not confirmed.")
    source = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["category", "-valid_from"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.category} from {self.valid_from}"

    def clean(self) -> None:
        if self.kind == self.Kind.MONTHLY_PER_NUMBER and not self.monthly_count:
            raise ValidationError({"monthly_count": "A monthly allowance needs its count."})
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValidationError({"valid_to": "Ends before it starts."})


class BillingAccount(models.Model):
    """How Meta bills a company: the currency of its WABAs (USD, or BRL for Brazilian accounts)."""

    company = models.OneToOneField(Company, on_delete=models.CASCADE, related_name="billing_account")
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.USD)

    def __str__(self) -> str:
        return f"{self.company} ({self.currency})"


class Origin(models.TextChoices):
    """Who made a message cost money: the panel compares the bot's replies with agents' and with notices."""

    BOT = "bot", "Bot reply"
    AGENT = "agent", "Agent reply"
    NOTICE = "notice", "Notice"
    CAMPAIGN = "campaign", "Campaign"
    API = "api", "API message"
    OTHER = "other", "Other"


class PricingType(models.TextChoices):
    """Meta's ``pricing.type``; conversation-based receipts (CBP) carry none and are read from ``billable``."""

    REGULAR = "regular", "Charged"
    FREE_CUSTOMER_SERVICE = "free_customer_service", "Free (customer service window)"
    FREE_ENTRY_POINT = "free_entry_point", "Free (entry point)"
    # Ours: a receipt with ``billable: false`` and no type (conversation-based pricing, before 2025-07-01).
    NOT_BILLABLE = "not_billable", "Free (not billable)"


class FreeReason(models.TextChoices):
    NONE = "", "Charged"
    CUSTOMER_SERVICE = "free_customer_service", "Customer service window (Meta)"
    ENTRY_POINT = "free_entry_point", "Free entry point (Meta)"
    NOT_BILLABLE = "not_billable", "Not billable (Meta)"
    SAME_CONVERSATION = "same_conversation", "Conversation already charged (CBP)"
    FREE_RATE = "free_rate", "Free on the rate card"
    INSIDE_WINDOW = "inside_window", "Free inside the window (allowance)"
    MONTHLY_ALLOWANCE = "monthly_allowance", "Monthly free allowance"


class SpendEntry(models.Model):
    """One outbound Cloud message's cost, estimated when queued and then as Meta's receipts tell it.

    Stages: ``estimated`` (queued; no receipt with pricing yet), ``sent`` (Meta priced it, not delivered
    yet), ``delivered`` (charged: Meta bills delivered messages; a free one is here at zero with its
    reason), ``failed`` (never delivered: costs nothing). ``delivered`` is final.
    """

    class Stage(models.TextChoices):
        ESTIMATED = "estimated", "Estimated"
        SENT = "sent", "Sent, awaiting delivery"
        DELIVERED = "delivered", "Delivered (charged)"
        FAILED = "failed", "Failed (not charged)"

    class PricingModel(models.TextChoices):
        NONE = "", "Unknown"
        PMP = "PMP", "Per message"
        CBP = "CBP", "Per conversation (before 2025-07-01)"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="spend_entries", db_index=False)
    # No database constraint: a deleted channel keeps its spend, under its id, as the totals do.
    channel = models.ForeignKey(
        Channel, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    # Spend outlives a message erased with its contact (what Meta charged stays charged).
    message = models.OneToOneField(
        Message, on_delete=models.SET_NULL, null=True, blank=True, related_name="spend_entry"
    )
    wamid = models.CharField(max_length=128, blank=True, help_text="Meta's message id.")
    stage = models.CharField(max_length=10, choices=Stage.choices)
    occurred_at = models.DateTimeField(help_text="Queued, sent or delivered, as the stage says.")
    day = models.DateField(help_text="occurred_at's day in the company's time zone.")
    category = models.CharField(max_length=32, choices=Category.choices)
    pricing_type = models.CharField(max_length=24, choices=PricingType.choices, blank=True)
    pricing_model = models.CharField(max_length=3, choices=PricingModel.choices, blank=True)
    conversation_id = models.CharField(max_length=64, blank=True, help_text="CBP: Meta's conversation.")
    market = models.CharField(max_length=2, blank=True, help_text="From the recipient's country code.")
    currency = models.CharField(max_length=3, choices=Currency.choices)
    rate = models.ForeignKey(Rate, on_delete=models.SET_NULL, null=True, blank=True, db_index=False, related_name="+")
    tier = models.CharField(max_length=32, blank=True)
    unit_price = models.DecimalField(**MONEY, default=Decimal(0))
    amount = models.DecimalField(**MONEY, default=Decimal(0), help_text="What it costs: zero when free.")
    free_reason = models.CharField(max_length=24, choices=FreeReason.choices, blank=True)
    is_priced = models.BooleanField(default=True, help_text="False when no rate card row matched.")
    template_name = models.CharField(max_length=512, blank=True)
    origin = models.CharField(max_length=10, choices=Origin.choices)
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="The first delivered or read receipt.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "spend entries"
        indexes = [
            # The last billable messages, of one company or of all.
            models.Index(
                fields=["company", "-occurred_at", "-id"],
                condition=Q(stage="delivered", amount__gt=0),
                name="spend_entry_billable",
            ),
            models.Index(
                fields=["-occurred_at", "-id"],
                condition=Q(stage="delivered", amount__gt=0),
                name="spend_entry_billable_all",
            ),
            # Conversation-based pricing charges a conversation once: its other messages are found by it.
            models.Index(
                fields=["company", "conversation_id"],
                condition=~Q(conversation_id=""),
                name="spend_entry_conversation",
            ),
            # The recomputation of one company's totals reads its entries by day.
            models.Index(fields=["company", "day"], name="spend_entry_company_day"),
        ]

    def __str__(self) -> str:
        return f"{self.category} {self.amount} {self.currency} ({self.stage})"


class Counters(models.Model):
    """What a total adds up, per stage of its entries: what the panel shows is ``delivered``; forecasts add
    ``sent`` and ``estimated``, which an entry leaves when Meta reports it."""

    delivered_count = models.BigIntegerField(default=0)
    delivered_amount = models.DecimalField(**TOTAL_MONEY, default=Decimal(0))
    free_count = models.BigIntegerField(default=0, help_text="Delivered free (with a reason).")
    sent_count = models.BigIntegerField(default=0)
    sent_amount = models.DecimalField(**TOTAL_MONEY, default=Decimal(0))
    estimated_count = models.BigIntegerField(default=0)
    estimated_amount = models.DecimalField(**TOTAL_MONEY, default=Decimal(0))

    class Meta:
        abstract = True


COUNTER_FIELDS = (
    "delivered_count",
    "delivered_amount",
    "free_count",
    "sent_count",
    "sent_amount",
    "estimated_count",
    "estimated_amount",
)


class SpendTotal(Counters):
    """Spend per company, day, channel (phone number), category, market and currency: the daily figures
    (series, today, Meta's daily pricing analytics per phone number and country)."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    channel = models.ForeignKey(
        Channel, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    category = models.CharField(max_length=32, choices=Category.choices)
    market = models.CharField(max_length=2, blank=True)
    currency = models.CharField(max_length=3, choices=Currency.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "day", "channel", "category", "market", "currency"], name="spend_total_key"
            ),
        ]
        indexes = [models.Index(fields=["day"], name="spend_total_day")]  # all companies' (platform staff)

    def __str__(self) -> str:
        return f"{self.day} {self.category} {self.delivered_amount} {self.currency}"


class SpendMonthTotal(Counters):
    """Spend per company, month, channel, category, origin, market and currency: month to date, forecasts,
    bot against agents against notices, and the month's counts that volume tiers and allowances need."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", db_index=False)
    month = models.DateField(help_text="The month's first day, in the company's time zone.")
    channel = models.ForeignKey(
        Channel, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    category = models.CharField(max_length=32, choices=Category.choices)
    origin = models.CharField(max_length=10, choices=Origin.choices)
    market = models.CharField(max_length=2, blank=True)
    currency = models.CharField(max_length=3, choices=Currency.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "month", "channel", "category", "origin", "market", "currency"],
                name="spend_month_total_key",
            ),
        ]
        indexes = [models.Index(fields=["month"], name="spend_month_total_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.category} {self.origin} {self.delivered_amount} {self.currency}"


class SpendTemplateTotal(Counters):
    """Spend per company, month, template, category and currency: the panel's top templates."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", db_index=False)
    month = models.DateField(help_text="The month's first day, in the company's time zone.")
    template_name = models.CharField(max_length=512)
    category = models.CharField(max_length=32, choices=Category.choices)
    currency = models.CharField(max_length=3, choices=Currency.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "month", "template_name", "category", "currency"], name="spend_template_total_key"
            ),
        ]
        indexes = [models.Index(fields=["month"], name="spend_template_total_month")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.template_name} {self.delivered_amount} {self.currency}"


# ------------------------------------------------------------------------------ Meta's own figures


class MetaFetch(models.Model):
    """One day (the company's) of one WABA's pricing analytics, asked of Meta: whether it came, and why not.

    Written with the day's figures in one transaction (``billing.services.reconciliation``): a day is
    ``ok`` with all its figures or keeps the figures of its last good fetch, never a part of them.
    """

    class State(models.TextChoices):
        OK = "ok", "Fetched"
        FAILED = "failed", "Failed"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", db_index=False)
    waba_id = models.CharField("WABA id", max_length=32)
    day = models.DateField(help_text="The company's day (its time zone) the figures are of.")
    state = models.CharField(max_length=8, choices=State.choices)
    attempts = models.PositiveIntegerField(default=0, help_text="Failed attempts since the last good fetch.")
    attempted_at = models.DateTimeField()
    fetched_at = models.DateTimeField(null=True, blank=True, help_text="The last good fetch.")
    has_cost = models.BooleanField(
        default=True, help_text="False: Meta gave volumes only (a WABA on a Solution Partner's credit line)."
    )
    error = models.CharField(max_length=500, blank=True, help_text="Why the last attempt failed.")
    error_code = models.CharField(max_length=32, blank=True)
    retryable = models.BooleanField(default=False, help_text="Whether trying again may succeed.")

    class Meta:
        ordering = ["-day", "company_id", "waba_id"]
        constraints = [models.UniqueConstraint(fields=["company", "day", "waba_id"], name="meta_fetch_key")]

    def __str__(self) -> str:
        return f"{self.day} WABA {self.waba_id}: {self.get_state_display()}"


class MetaSpend(models.Model):
    """What Meta's pricing analytics say a company's day cost, at the grain of its daily totals (phone
    number, category, country), the pricing types in columns so that each row meets one ``SpendTotal``.

    ``cost`` is Meta's, in the WABA's currency; Meta gives none for WABAs on a Solution Partner's credit
    line, so ``rate_card_cost`` prices Meta's charged volume with our rate card, for every row.
    """

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField(help_text="The company's day (its time zone).")
    waba_id = models.CharField("WABA id", max_length=32)
    phone_number = models.CharField(max_length=20, blank=True, help_text="The business number, as Meta gives it.")
    # None when Meta's number is none of the company's channels; a deleted channel keeps its figures.
    channel = models.ForeignKey(
        Channel,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
    )
    category = models.CharField(max_length=32, choices=Category.choices)
    market = models.CharField(max_length=2, blank=True, help_text="The recipients' country.")
    currency = models.CharField(max_length=3, choices=Currency.choices)
    volume = models.BigIntegerField(default=0, help_text="Delivered messages, charged and free.")
    charged_volume = models.BigIntegerField(default=0, help_text="Pricing type REGULAR.")
    free_customer_service_volume = models.BigIntegerField(default=0)
    free_entry_point_volume = models.BigIntegerField(default=0)
    cost = models.DecimalField(**TOTAL_MONEY, null=True, blank=True, help_text="Meta's; empty when Meta gave none.")
    rate_card_cost = models.DecimalField(
        **TOTAL_MONEY, default=Decimal(0), help_text="The charged volume priced with our rate card."
    )
    is_priced = models.BooleanField(default=True, help_text="False when no rate card row priced a charged message.")
    fetched_at = models.DateTimeField()

    class Meta:
        verbose_name = "Meta spend figure"
        ordering = ["-day", "company_id", "category"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "day", "waba_id", "phone_number", "category", "market", "currency"],
                name="meta_spend_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.category} {self.volume} messages"

    @property
    def amount(self) -> Decimal:
        """What Meta charged: its cost, or, when it gave none, its volume priced with our rate card."""
        return self.cost if self.cost is not None else self.rate_card_cost


# ------------------------------------------------------------------------------ budgets (the spend panel)


class Budget(models.Model):
    """What a company means to spend on Meta's messages per period, and the share of it that warns its people.

    Written only by ``billing.services.budgets``; compared with what Meta has charged (delivered messages),
    in the budget's currency, by the same service each time spend is recorded.
    """

    class Period(models.TextChoices):
        MONTHLY = "monthly", "Monthly (calendar month, the company's time zone)"

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="budgets")
    period = models.CharField(max_length=10, choices=Period.choices, default=Period.MONTHLY)
    amount = models.DecimalField(max_digits=12, decimal_places=2, help_text="What the period may cost.")
    currency = models.CharField(
        max_length=3, choices=Currency.choices, default=Currency.USD, help_text="The currency Meta bills in."
    )
    alert_threshold_percent = models.PositiveSmallIntegerField(
        default=80, help_text="Warn once a period when the charged spend reaches this share of the amount."
    )
    contact_email = models.EmailField(
        "billing contact e-mail",
        blank=True,
        help_text="Who gets the alert; empty: the company's ISP admins that have an e-mail address.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company", "period"], name="budget_one_per_period")]

    def __str__(self) -> str:
        return f"{self.company}: {self.amount} {self.currency} {self.period}"

    def clean(self) -> None:
        if self.amount is not None and self.amount <= 0:
            raise ValidationError({"amount": "A budget is more than zero."})
        if self.alert_threshold_percent is not None and not 1 <= self.alert_threshold_percent <= 100:
            raise ValidationError({"alert_threshold_percent": "Between 1 and 100 percent."})

    @property
    def threshold_amount(self) -> Decimal:
        """The spend at which the alert goes out (exact: rounding to cents could make a small budget's zero)."""
        return self.amount * self.alert_threshold_percent / 100


class BudgetAlert(models.Model):
    """A company's budget threshold crossed in one period: one row per company, period kind and period start
    (the unique key makes the alert, and its e-mail, happen once however many writers cross it at once).

    Kept so the notice stays on the panel for the period; ``emailed_at`` is set by whoever claims the e-mail.
    """

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="budget_alerts")
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period = models.CharField(max_length=10, choices=Budget.Period.choices)
    period_start = models.DateField(help_text="The period's first day, in the company's time zone.")
    currency = models.CharField(max_length=3, choices=Currency.choices)
    amount = models.DecimalField(max_digits=12, decimal_places=2, help_text="The budget when it was crossed.")
    threshold_percent = models.PositiveIntegerField()
    spent = models.DecimalField(**TOTAL_MONEY, help_text="The charged spend that crossed it.")
    crossed_at = models.DateTimeField()
    emailed_to = models.CharField(max_length=500, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    email_error = models.CharField(max_length=300, blank=True, help_text="Why the last attempt failed.")

    class Meta:
        ordering = ["-period_start", "company_id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "period", "period_start"], name="budget_alert_once_per_period")
        ]

    def __str__(self) -> str:
        return f"{self.company}: {self.threshold_percent}% of {self.amount} {self.currency} from {self.period_start}"

    @property
    def percent_spent(self) -> Decimal:
        return (self.spent * 100 / self.amount).quantize(Decimal("0.1")) if self.amount else Decimal(0)
