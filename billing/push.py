"""After spend entries commit, tell the live dashboards of their companies: a Channels group per company.

Group ``spend.company.<company_id>``; the message is ``{"type": "spend.changed", ...}`` with today's spend by
category, the month so far and the last billable messages (their recipients masked), so the page redraws
without asking. A push that fails (the channel layer down) is logged and dropped: the page reads the same
figures when it reconnects.
"""

import logging
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from billing import selectors
from billing.models import SpendEntry
from billing.recipients import masked_recipients

logger = logging.getLogger(__name__)

LAST_BILLABLE = 10


def group_name(company_id: int) -> str:
    return f"spend.company.{company_id}"


def after_commit(entries: Iterable[SpendEntry]) -> None:
    """Push the figures of the companies whose entries Meta reported on, once the caller's transaction commits.

    Estimates alone move nothing a dashboard shows (they only feed the forecast), so they push nothing.
    """
    company_ids = sorted({e.company_id for e in entries if e.stage != SpendEntry.Stage.ESTIMATED})
    if company_ids:
        transaction.on_commit(lambda: push(company_ids), robust=True)


def figures(company_id: int) -> dict[str, Any]:
    """What the dashboard shows of one company, as the push carries it."""
    today = selectors.today_for(company_id)
    month = selectors.get_month_to_date(company_id=company_id, month=today)
    last_billable = selectors.list_last_billable(company_id=company_id, limit=LAST_BILLABLE)
    recipients = masked_recipients(entry.message_id for entry in last_billable)
    return {
        "type": "spend.changed",
        "company_id": company_id,
        "today": today.isoformat(),
        "today_by_category": [
            f.as_json() for f in selectors.list_today_by_category(company_id=company_id, today=today)
        ],
        "month_total": [f.as_json() for f in month.total],
        "month_by_category": [f.as_json() for f in month.by_category],
        "budget": _budget(company_id, today),
        "last_billable": [
            {
                "id": entry.pk,
                "at": entry.occurred_at.isoformat(),
                "category": entry.category,
                "amount": selectors.money(entry.amount),
                "currency": entry.currency,
                "template": entry.template_name,
                "origin": entry.origin,
                "recipient": recipients.get(entry.message_id, ""),
            }
            for entry in last_billable
        ],
    }


def _budget(company_id: int, today) -> dict[str, Any] | None:
    """The budget gauge: the month's charged spend against the company's budget (None without one)."""
    status = selectors.get_budget_status(company_id=company_id, month=today)
    if status is None:
        return None
    return {
        "amount": selectors.money(status.amount),
        "currency": status.currency,
        "spent": selectors.money(status.spent),
        "percent": str(status.percent),
        "threshold_percent": status.threshold_percent,
        "over_threshold": status.is_over_threshold,
        "over_budget": status.is_over_budget,
    }


def push(company_ids: Iterable[int]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for company_id in company_ids:
        try:
            async_to_sync(layer.group_send)(group_name(company_id), figures(company_id))
        except Exception:
            logger.exception("Could not push spend figures of company %s", company_id)
