"""The bot's flow chart as a table: each state, the question it asks, how it reads the answer, and where
each outcome leads.

    start ─┬─ recognised ──▶ confirm_account ─┬─ yes ──────▶ menu
           │                                  ├─ no_next ──▶ confirm_account (another customer on the phone)
           │                                  └─ no ───────▶ ask_document
           ├─ unknown ─────▶ ask_document ────┬─ found ────▶ menu
           │                                  └─ not_found ▶ ask_document
           ├─ erp_down ────▶ offer_person ────┬─ wants_person ▶ handed_off
           │                                  └─ declined ─────▶ finished
           └─ no_erp ──────▶ handed_off
    menu ─┬─ bill_sent, no_open_invoice, unlock_answered ─▶ menu ("anything else?")
          ├─ several_contracts ─▶ choose_contract ── unlock_answered ─▶ menu
          ├─ person ─▶ handed_off
          ├─ end ────▶ finished
          └─ erp_down (here and in every step asking the ERP) ─▶ offer_person

Beside the chart, in every state that asks something: an answer that cannot be read (``invalid``), one that
reads but leads nowhere (``not_found``) and a turn of media only (``media``) ask the same question again,
and the company's ``max_invalid_answers``-th of them hands off (``too_many_invalid``); words that ask for a
person (``asked_for_person``) hand off at once. Adding a step is a row here and its action in
``bot.actions``.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from conversations.services.sessions import START


class State(enum.StrEnum):
    START = START  # a new session: nothing asked yet
    CONFIRM_ACCOUNT = "confirm_account"
    ASK_DOCUMENT = "ask_document"
    MENU = "menu"
    CHOOSE_CONTRACT = "choose_contract"
    OFFER_PERSON = "offer_person"
    HANDED_OFF = "handed_off"
    FINISHED = "finished"


class Reads(enum.StrEnum):
    """How a state reads the customer's answer (``bot.answers``)."""

    NOTHING = "nothing"
    YES_NO = "yes_no"
    DOCUMENT = "document"
    MENU = "menu"
    CONTRACT = "contract"


@dataclass(frozen=True)
class Step:
    asks: str  # the text key of its question ("" when it asks nothing)
    reads: Reads
    on: Mapping[str, State] = field(default_factory=dict)  # outcome → the next state
    invalid: str = ""  # the text key said before the question is asked again
    ends: bool = False  # the bot's part of the session is over


FLOW: Mapping[State, Step] = {
    State.START: Step(
        asks="",
        reads=Reads.NOTHING,
        on={
            "recognised": State.CONFIRM_ACCOUNT,  # a confirmed link, or the ERP knows the phone
            "unknown": State.ASK_DOCUMENT,
            "erp_down": State.OFFER_PERSON,
            "no_erp": State.HANDED_OFF,  # the company has no ERP: nothing the bot could look up
            "asked_for_person": State.HANDED_OFF,
        },
    ),
    State.CONFIRM_ACCOUNT: Step(
        asks="confirm_account",
        reads=Reads.YES_NO,
        invalid="invalid_yes_no",
        on={"yes": State.MENU, "no_next": State.CONFIRM_ACCOUNT, "no": State.ASK_DOCUMENT},
    ),
    State.ASK_DOCUMENT: Step(
        asks="ask_document",
        reads=Reads.DOCUMENT,
        invalid="invalid_document",
        on={"found": State.MENU, "not_found": State.ASK_DOCUMENT, "erp_down": State.OFFER_PERSON},
    ),
    State.MENU: Step(
        asks="menu",
        reads=Reads.MENU,
        invalid="invalid_option",
        on={
            "bill_sent": State.MENU,
            "no_open_invoice": State.MENU,
            "unlock_answered": State.MENU,
            "several_contracts": State.CHOOSE_CONTRACT,
            "person": State.HANDED_OFF,
            "end": State.FINISHED,
            "erp_down": State.OFFER_PERSON,
            "unknown": State.ASK_DOCUMENT,  # the session's customer link was deleted meanwhile
        },
    ),
    State.CHOOSE_CONTRACT: Step(
        asks="choose_contract",
        reads=Reads.CONTRACT,
        invalid="invalid_option",
        on={"unlock_answered": State.MENU, "erp_down": State.OFFER_PERSON},
    ),
    State.OFFER_PERSON: Step(
        asks="erp_unavailable",
        reads=Reads.YES_NO,
        invalid="invalid_yes_no",
        on={"wants_person": State.HANDED_OFF, "declined": State.FINISHED},
    ),
    State.HANDED_OFF: Step(asks="", reads=Reads.NOTHING, ends=True),
    State.FINISHED: Step(asks="", reads=Reads.NOTHING, ends=True),
}

# Outcomes every asking state handles alike (the side rails of the chart).
RETRY = frozenset({"invalid", "not_found", "media"})  # the same question again, counted
ANYWHERE: Mapping[str, State] = {"too_many_invalid": State.HANDED_OFF, "asked_for_person": State.HANDED_OFF}

# Why a state was reached, for the caller that hands the session to a person.
HANDOFF_REASONS = {
    "asked_for_person": "asked for a person",
    "person": "asked for a person",
    "wants_person": "ERP unavailable",
    "too_many_invalid": "too many invalid answers",
    "no_erp": "no ERP set up",
    "bot_disabled": "bot disabled",  # the company turned its bot off: straight to a person
}


def state_of(value: str) -> State:
    """The session's state; one this table no longer has (renamed by a deploy) starts the flow again."""
    try:
        return State(value)
    except ValueError:
        return State.START


def next_state(state: State, outcome: str) -> State:
    """Where ``outcome`` leads from ``state``; raises KeyError for an outcome the table does not name there."""
    step = FLOW[state]
    if outcome in RETRY and not step.ends and step.asks:
        return state
    if outcome in step.on:
        return step.on[outcome]
    if outcome in ANYWHERE and not step.ends:
        return ANYWHERE[outcome]
    raise KeyError(f"no transition for {outcome!r} from {state}")
