"""Contract and billing notices: ask the ERP who the customer is, then tell each of their WhatsApp numbers.

The customer's name, numbers and open invoices come from the ERP by customer code. Each number is a
recipient: its messages go through the one door (``conversations.services.outbound``), on the channel
the company's routing policy picks for notices. On Evolution a contract notice is the text; on Cloud
it is the template the company chose for the event (the text itself while the customer's 24 h window is
open and no template was chosen). A number that cannot be told (none in the ERP, no usable template)
is a recipient with the reason, never a silent drop.
"""

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from companies.erp import base as erp
from companies.erp.registry import erp_for
from companies.models import Channel, Company
from config.masking import mask_text
from conversations import bills
from conversations.exceptions import CompanyInactive, NoChannel
from conversations.models import Message
from conversations.services import outbound
from conversations.whatsapp import content as contents
from notifications import exceptions
from notifications.models import Notice, NoticeRecipient
from notifications.notices.texts import contract_event_text
from templates_meta.exceptions import TemplateNotUsable
from templates_meta.models import TemplatePurpose
from templates_meta.services import purpose_call

logger = logging.getLogger(__name__)

NO_NUMBER = "The customer has no WhatsApp number in the ERP (mobile, WhatsApp or phone fields)."
EVENT_PURPOSES = {
    Notice.Event.ACTIVATE: TemplatePurpose.Purpose.CONTRACT_ACTIVATE,
    Notice.Event.BLOCK: TemplatePurpose.Purpose.CONTRACT_BLOCK,
    Notice.Event.UNBLOCK: TemplatePurpose.Purpose.CONTRACT_UNBLOCK,
    Notice.Event.SUSPEND: TemplatePurpose.Purpose.CONTRACT_SUSPEND,
    Notice.Event.REACTIVATE: TemplatePurpose.Purpose.CONTRACT_REACTIVATE,
    Notice.Event.CANCEL: TemplatePurpose.Purpose.CONTRACT_CANCEL,
    Notice.Event.BANDWIDTH_LIMIT: TemplatePurpose.Purpose.CONTRACT_BANDWIDTH_LIMIT,
}


def asking_erp(call: Callable[[], Any]) -> Any:
    """``call``'s answer, with the ERP's failures turned into the API's refusals (nothing is accepted)."""
    try:
        return call()
    except erp.ErpNotConfigured:
        raise exceptions.ErpNotConfigured from None
    except erp.ErpUnavailable as exc:
        raise exceptions.ErpUnavailable(details={"reason": str(exc)}) from None
    except erp.ErpError as exc:
        logger.warning("ERP error: %s", mask_text(str(exc)))
        raise exceptions.ErpFailed(details={"reason": str(exc)}) from None


def _can_send(company: Company) -> None:
    """Refuse before asking the ERP what could never go out."""
    if not company.is_active:
        raise CompanyInactive
    if outbound.notice_channel(company) is None:
        raise NoChannel


def _customer(company: Company, customer_code: str) -> erp.Customer:
    customer = asking_erp(lambda: erp_for(company).find_customer_by_code(customer_code))
    if customer is None:
        raise exceptions.CustomerNotFound(details={"customer": customer_code})
    return customer


def _recipients(notice: Notice, customer: erp.Customer, send: Callable[[str], list[Message]]) -> None:
    """One recipient per number; ``send(phone)`` queues its messages or raises why it cannot."""
    if not customer.phones:
        NoticeRecipient.objects.create(notice=notice, failure=NO_NUMBER)
        return
    for phone in customer.phones:
        recipient = NoticeRecipient.objects.create(notice=notice, phone=phone)
        try:
            with transaction.atomic():
                messages = send(phone)
        except (TemplateNotUsable, bills.NoTemplateForWindow, NoChannel) as exc:
            recipient.failure = str(getattr(exc, "message", exc))[:300]
            recipient.save(update_fields=["failure"])
            continue
        recipient.messages.add(*messages)


def _event_content(
    company: Company, channel: Channel, window_open: bool, event: str, customer: erp.Customer, contract: str
) -> dict[str, Any]:
    text = contract_event_text(name=customer.name, event=event, support_phone=company.support_phone)
    if channel.kind != Channel.Kind.CLOUD:
        return contents.text(text)
    values = {
        "customer_name": customer.name,
        "customer_code": customer.code,
        "contract_id": contract,
        "event": Notice.Event(event).label,
        "support_phone": company.support_phone,
    }
    call = purpose_call(company=company, purpose=EVENT_PURPOSES[event], values=values)
    if call is not None:
        return contents.template_request(call.name, call.language, call.parameters)
    if window_open:
        return contents.text(text)
    raise bills.NoTemplateForWindow(EVENT_PURPOSES[event])


def notify_contract_event(*, company: Company, customer_code: str, contract_id: str, event: str) -> Notice:
    """Tell the customer their contract was blocked, unblocked...: one notice, a recipient per number."""
    _can_send(company)
    customer = _customer(company, customer_code)
    notice = Notice.objects.create(
        company=company,
        kind=Notice.Kind.CONTRACT_EVENT,
        customer_code=customer.code,
        customer_name=customer.name,
        contract_id=contract_id,
        event=event,
    )

    def send(phone: str) -> list[Message]:
        contact, channel = outbound.route(company=company, to=phone)
        content = _event_content(company, channel, contact.window_open, event, customer, contract_id)
        return [
            outbound.send_message(
                company=company, to=contact, content=content, channel=channel, reference=f"notice:{notice.pk}"
            )
        ]

    _recipients(notice, customer, send)
    return notice


def _chosen_invoices(invoices: list[erp.Invoice], invoice_ids: list[str]) -> list[erp.Invoice]:
    if not invoice_ids:
        return invoices
    open_ids = {invoice.id for invoice in invoices}
    missing = [invoice_id for invoice_id in invoice_ids if invoice_id not in open_ids]
    if missing:
        raise exceptions.InvoiceNotFound(details={"invoices": missing})
    return [invoice for invoice in invoices if invoice.id in invoice_ids]


def send_bills(
    *, company: Company, kind: str, customer: erp.Customer, invoices: list[erp.Invoice], contract_id: str = ""
) -> Notice:
    """A notice with the bill of ``invoices`` to each of the customer's numbers."""
    notice = Notice.objects.create(
        company=company,
        kind=kind,
        customer_code=customer.code,
        customer_name=customer.name,
        contract_id=contract_id,
        invoice_ids=[invoice.id for invoice in invoices],
    )
    today = company_today(company)

    def send(phone: str) -> list[Message]:
        plan = bills.plan_bill(company=company, to=phone, customer=customer, invoices=invoices, today=today)
        return bills.send_bill(plan, company=company, reference=f"notice:{notice.pk}")

    _recipients(notice, customer, send)
    return notice


def notify_billing(
    *, company: Company, customer_code: str, contract_id: str = "", invoice_ids: list[str] | None = None
) -> Notice | None:
    """Send the customer's open invoices (or the chosen ones); None when there is none open."""
    _can_send(company)
    customer = _customer(company, customer_code)
    invoices = asking_erp(lambda: erp_for(company).list_open_invoices(customer.code, contract_id=contract_id or None))
    invoices = _chosen_invoices(invoices, invoice_ids or [])
    if not invoices:
        return None
    return send_bills(
        company=company, kind=Notice.Kind.BILLING, customer=customer, invoices=invoices, contract_id=contract_id
    )


def company_today(company: Company, *, now: dt.datetime | None = None) -> dt.date:
    """The date it is where the company is (its invoices fall due on its calendar)."""
    return (now or timezone.now()).astimezone(zoneinfo.ZoneInfo(company.timezone)).date()
