"""A bill's messages: what a customer receives for each open invoice, by the billing notice, a reminder
or the bot's "second copy" alike.

For each invoice, in order: what it is (due date and amount in reais), the digitable line alone (so a
long press copies all of it), the PIX copy-and-paste code alone — or, on a Cloud channel enabled for
Meta's Brazil payments, an ``order_details`` message whose "copy" button copies it — and the boleto
PDF as a document (or, when the ERP's boleto is a web page, its link). Outside the 24 h window a
Cloud channel takes only templates: there the bill is the company's ``billing_notice`` template,
filled from the invoice.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from companies.erp.base import Customer, Invoice
from companies.models import Channel, Company
from conversations.models import Contact, Message
from conversations.services import hosted_files, outbound
from conversations.whatsapp import content as contents
from templates_meta.models import TemplatePurpose
from templates_meta.services import purpose_call

logger = logging.getLogger(__name__)

PDF = "application/pdf"


class NoTemplateForWindow(Exception):
    """A Cloud contact outside the 24 h window, and the company chose no template for the purpose."""

    def __init__(self, purpose: str) -> None:
        purpose = TemplatePurpose.Purpose(purpose)
        super().__init__(
            f"The contact's 24 h window is closed and the company chose no template for "
            f"{purpose.label.lower()} ({purpose.value}): choose one in the admin (Template purposes)."
        )


def brl(amount: Decimal) -> str:
    """``Decimal("1234.5")`` → ``R$ 1.234,50``."""
    whole, cents = f"{amount:,.2f}".split(".")
    return f"R$ {whole.replace(',', '.')},{cents}"


def date_br(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def invoice_values(customer: Customer, invoice: Invoice, *, support_phone: str = "") -> dict[str, str]:
    """The placeholders a template's parameters may name (``{customer_name}``, ``{amount}``...)."""
    return {
        "customer_name": customer.name,
        "customer_code": customer.code,
        "invoice_id": invoice.id,
        "contract_id": invoice.contract_id,
        "amount": brl(invoice.amount),
        "due_date": date_br(invoice.due_date),
        "digitable_line": invoice.digitable_line,
        "barcode": invoice.barcode,
        "pix_code": invoice.pix_code,
        "boleto_url": invoice.boleto_url,
        "support_phone": support_phone,
    }


def summary_text(invoice: Invoice, *, today: dt.date) -> str:
    when = "venceu" if invoice.due_date < today else "vence"
    return f"Fatura {invoice.id}: {brl(invoice.amount)}, {when} em {date_br(invoice.due_date)}."


def greeting_text(customer: Customer, invoices: list[Invoice]) -> str:
    if len(invoices) == 1:
        return f"Olá {customer.name}, segue a sua fatura em aberto."
    return f"Olá {customer.name}, você tem {len(invoices)} faturas em aberto. Seguem os dados de cada uma."


def _boleto_url(company: Company, invoice: Invoice) -> str:
    if invoice.boleto_url:
        return invoice.boleto_url
    if invoice.boleto_pdf:
        hosted = hosted_files.host(
            company=company, content=invoice.boleto_pdf, filename=f"boleto-{invoice.id}.pdf", content_type=PDF
        )
        return hosted_files.public_url(hosted)
    return ""


def _pix(company: Company, channel: Channel, invoice: Invoice, *, today: dt.date) -> dict[str, Any]:
    payments = channel.kind == Channel.Kind.CLOUD and channel.brazil_payments and company.pix_key
    if not payments:
        return contents.text(invoice.pix_code)
    return contents.pix_order(
        reference_id=f"{company.pk}-{invoice.id}",
        body=f"PIX da fatura {invoice.id} ({brl(invoice.amount)}, vencimento {date_br(invoice.due_date)}).",
        code=invoice.pix_code,
        amount_cents=int(invoice.amount * 100),
        merchant_name=company.pix_merchant_name or company.name,
        key=company.pix_key,
        key_type=company.pix_key_type or Company.PixKeyType.EVP,
    )


def invoice_contents(*, company: Company, channel: Channel, invoice: Invoice, today: dt.date) -> list[dict[str, Any]]:
    """The free-form messages of one invoice, in the order they go."""
    messages = [contents.text(summary_text(invoice, today=today))]
    if invoice.digitable_line:
        messages.append(contents.text(invoice.digitable_line))
    if invoice.pix_code:
        messages.append(_pix(company, channel, invoice, today=today))
    if invoice.boleto_is_page and invoice.boleto_url:
        # An HTML page attached as a PDF would open as garbage: the customer gets the link to open instead.
        messages.append(contents.text(f"Boleto: {invoice.boleto_url}"))
    elif url := _boleto_url(company, invoice):
        messages.append(contents.media("document", url=url, caption="Boleto", filename=f"boleto-{invoice.id}.pdf"))
    return messages


def _template(company: Company, customer: Customer, invoice: Invoice) -> dict[str, Any]:
    values = invoice_values(customer, invoice, support_phone=company.support_phone)
    values["boleto_url"] = _boleto_url(company, invoice)
    call = purpose_call(company=company, purpose=TemplatePurpose.Purpose.BILLING_NOTICE, values=values)
    if call is None:
        raise NoTemplateForWindow(TemplatePurpose.Purpose.BILLING_NOTICE)
    return contents.template_request(call.name, call.language, call.parameters)


@dataclass(frozen=True)
class BillPlan:
    """What will go to one contact for a customer's invoices, and on which channel."""

    contact: Contact
    channel: Channel
    messages: list[tuple[str, dict[str, Any]]]  # (invoice id, or "" for the greeting; content)


def plan_bill(
    *,
    company: Company,
    to: Contact | str,
    customer: Customer,
    invoices: list[Invoice],
    purpose: str = Message.Purpose.NOTICE,
    channel: Channel | None = None,
    today: dt.date,
) -> BillPlan:
    """The messages of the bill for ``to``; raises NoTemplateForWindow and the door's refusals (no channel...)."""
    contact, channel = outbound.route(company=company, to=to, purpose=purpose, channel=channel)
    messages: list[tuple[str, dict[str, Any]]] = []
    if channel.kind == Channel.Kind.CLOUD and not contact.window_open:
        messages = [(invoice.id, _template(company, customer, invoice)) for invoice in invoices]
    else:
        messages.append(("", contents.text(greeting_text(customer, invoices))))
        for invoice in invoices:
            messages += [
                (invoice.id, content)
                for content in invoice_contents(company=company, channel=channel, invoice=invoice, today=today)
            ]
    return BillPlan(contact=contact, channel=channel, messages=messages)


def send_bill(
    plan: BillPlan,
    *,
    company: Company,
    author: str = Message.Author.SYSTEM,
    purpose: str = Message.Purpose.NOTICE,
    idempotency_prefix: str = "",
    reference: str = "",
    session_id: int | None = None,
) -> list[Message]:
    """Queue the plan's messages through the one door, in order (the outbox keeps a contact's order)."""
    sent = []
    for position, (_, content) in enumerate(plan.messages):
        key = f"{idempotency_prefix}:{position}" if idempotency_prefix else ""
        sent.append(
            outbound.send_message(
                company=company,
                to=plan.contact,
                content=content,
                channel=plan.channel,
                author=author,
                purpose=purpose,
                idempotency_key=key,
                reference=reference,
                session_id=session_id,
            )
        )
    return sent
