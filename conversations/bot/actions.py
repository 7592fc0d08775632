"""What the bot does in each state with the customer's answer; each returns the outcome the table follows.

They may raise the ERP's errors (``companies.erp.base.ErpError``): the flow turns those into ``erp_down``.
"""

import datetime as dt
import logging
import zoneinfo
from collections.abc import Callable

from django.utils import timezone

from companies.erp.base import ContractStatus, Customer, ErpError, ErpNotConfigured
from config.masking import mask_document
from conversations import bills
from conversations.bot import answers, menu
from conversations.bot.machine import State
from conversations.bot.questions import contract_options
from conversations.bot.turn import Turn
from conversations.models import CustomerLink, Message
from conversations.services import sessions

logger = logging.getLogger(__name__)


def _link(turn: Turn, code: str, name: str, document: str) -> None:
    sessions.link_customer(turn.session, customer_code=code, name=name, document=document, confirmed=True)


def _document_of(turn: Turn, code: str) -> str:
    """The CPF/CNPJ of a customer the phone found: the session keeps candidates without theirs (it is no
    transcript, but no place for documents either), so it is asked again once the customer said it is them."""
    link = CustomerLink.objects.filter(contact=turn.contact, customer_code=code).exclude(document="").first()
    if link is not None:
        return link.document
    try:
        customer = turn.erp.find_customer_by_code(code)
    except ErpError as exc:  # the link is made without it; the document is not what the menu needs
        logger.warning("Bot session %s: no document for customer %s (%s)", turn.session.pk, code, exc.code)
        return ""
    return customer.document if customer is not None else ""


def recognise(turn: Turn) -> str:
    """A new session: greet, remember what the first words asked for, and find who the phone belongs to."""
    asked = menu.asked_for(turn.words, turn.wording)
    turn.say_text("greeting")
    if asked == menu.PERSON:
        return "asked_for_person"
    if asked:
        turn.data["intent"] = asked  # served as soon as the customer is known
    try:
        erp = turn.erp
    except ErpNotConfigured:
        return "no_erp"
    links = CustomerLink.objects.filter(contact=turn.contact, confirmed=True).order_by("-updated_at")
    candidates = [{"code": link.customer_code, "name": link.name} for link in links]
    if not candidates and turn.contact.phone:
        candidates = [{"code": c.code, "name": c.name} for c in erp.find_customers_by_phone(turn.contact.phone)]
    logger.info("Bot session %s: %d customers known for the phone", turn.session.pk, len(candidates))
    if not candidates:
        return "unknown"
    turn.data["candidates"] = candidates
    return "recognised"


def confirm_account(turn: Turn) -> str:
    said = turn.read(answers.yes_no)
    if said is None:
        return "invalid"
    candidates = turn.data.pop("candidates", [])
    if said and candidates:
        chosen = candidates[0]
        _link(turn, chosen["code"], chosen["name"], _document_of(turn, chosen["code"]))
        return "yes"
    if candidates[1:]:  # another customer on the same phone: is it that one?
        turn.data["candidates"] = candidates[1:]
        return "no_next"
    return "no"


def ask_document(turn: Turn) -> str:
    document = turn.read(answers.document)
    if document is None:
        return "invalid"
    found = turn.erp.find_customers_by_document(document)
    logger.info("Bot session %s: %d customers for %s", turn.session.pk, len(found), mask_document(document))
    if not found:
        return "not_found"
    customer = found[0]
    _link(turn, customer.code, customer.name, customer.document or document)
    turn.say_text("document_found", name=customer.name)
    return "found"


def choose_from_menu(turn: Turn, chosen: str | None = None) -> str:
    """The menu's answer (or the option the first words asked for) done."""
    chosen = chosen or turn.read(lambda said: answers.choice(said, menu.options(turn.wording)))
    if chosen is None:
        return "invalid"
    if chosen == menu.PERSON:
        return "person"
    if chosen == menu.END:
        return "end"
    if turn.session.customer is None:  # the link was deleted meanwhile
        return "unknown"
    return send_bill(turn) if chosen == menu.BILL else trust_unlock(turn)


def company_today(turn: Turn) -> dt.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo(turn.company.timezone)).date()


def send_bill(turn: Turn) -> str:
    """The second copy: the same messages as the billing notice, as the bot's replies in this session."""
    link = turn.session.customer
    invoices = turn.erp.list_open_invoices(link.customer_code)
    if not invoices:
        turn.say_text("no_open_invoice")
        return "no_open_invoice"
    turn.say_text("bill_intro")
    customer = Customer(code=link.customer_code, name=link.name, document=link.document)
    plan = bills.plan_bill(
        company=turn.company,
        to=turn.contact,
        customer=customer,
        invoices=invoices,
        purpose=Message.Purpose.REPLY,
        today=company_today(turn),
    )
    turn.said(
        bills.send_bill(
            plan,
            company=turn.company,
            author=Message.Author.BOT,
            purpose=Message.Purpose.REPLY,
            idempotency_prefix=turn.next_key(),
            reference=turn.reference,
            session_id=turn.session.pk,
        )
    )
    return "bill_sent"


def trust_unlock(turn: Turn) -> str:
    """The customer's blocked contract unlocked on trust; with several, which one is asked first."""
    contracts = turn.erp.list_contracts(turn.session.customer.customer_code)
    if not contracts:
        turn.say_text("no_contract")
        return "unlock_answered"
    blocked = [c for c in contracts if c.status == ContractStatus.BLOCKED]
    if not blocked:
        turn.say_text("trust_unlock_not_blocked")
        return "unlock_answered"
    if len(blocked) > 1:
        turn.data["contracts"] = [
            {"id": c.id, "plan": c.plan, "allowed": c.trust_unlock_allowed is not False} for c in blocked
        ]
        return "several_contracts"
    return _unlock(turn, blocked[0].id, allowed=blocked[0].trust_unlock_allowed is not False)


def choose_contract(turn: Turn) -> str:
    chosen = turn.read(lambda said: answers.choice(said, contract_options(turn)))
    if chosen is None:
        return "invalid"
    contracts = {f"contract:{c['id']}": c for c in turn.data.pop("contracts", [])}
    contract = contracts[chosen]
    return _unlock(turn, contract["id"], allowed=contract["allowed"])


def _unlock(turn: Turn, contract_id: str, *, allowed: bool) -> str:
    if not allowed:  # the ERP says so of the contract: explained rather than asked and refused
        turn.say_text("trust_unlock_not_allowed", contract=contract_id)
        return "unlock_answered"
    answer = turn.erp.trust_unlock(contract_id)
    logger.info("Bot session %s: trust unlock of contract %s granted: %s", turn.session.pk, contract_id, answer.granted)
    if answer.granted and answer.until:
        turn.say_text("trust_unlock_ok", contract=contract_id, until=bills.date_br(answer.until))
    elif answer.granted:
        turn.say_text("trust_unlock_ok_no_date", contract=contract_id)
    else:
        reason = answer.reason.strip() or turn.text("trust_unlock_denied_no_reason")
        turn.say_text("trust_unlock_denied", contract=contract_id, reason=reason)
    return "unlock_answered"


def offer_person(turn: Turn) -> str:
    said = turn.read(answers.yes_no)
    if said is None:
        return "invalid"
    return "wants_person" if said else "declined"


ACTIONS: dict[State, Callable[[Turn], str]] = {
    State.START: recognise,
    State.CONFIRM_ACCOUNT: confirm_account,
    State.ASK_DOCUMENT: ask_document,
    State.MENU: choose_from_menu,
    State.CHOOSE_CONTRACT: choose_contract,
    State.OFFER_PERSON: offer_person,
}
