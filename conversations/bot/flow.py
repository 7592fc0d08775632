"""The bot's entry point: ``answer(session, messages)`` answers one burst of a customer's messages.

The caller (the conversation consumer) has decided the bot may speak, and hands the session to a person in
Chatwoot when the outcome says so; the bot itself tells the customer (with the protocol, and when agents
are back outside business hours). What the customer and the bot said goes into the session's transcript.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from companies import business_hours
from companies.erp.base import ErpError, ErpNotConfigured
from conversations.bot import actions, menu, questions
from conversations.bot.machine import FLOW, HANDOFF_REASONS, RETRY, State, next_state, state_of
from conversations.bot.texts import WEEKDAY_NAMES
from conversations.bot.turn import Turn
from conversations.models import Message, Session
from conversations.services import sessions

logger = logging.getLogger(__name__)

# After something was done in the menu, it is offered again as "anything else?".
DONE = frozenset({"bill_sent", "no_open_invoice", "unlock_answered"})
# A burst of this many outcomes without reaching a question is a loop in the table, not a conversation.
MAX_STEPS = 10


@dataclass(frozen=True)
class Outcome:
    """What the caller does next: hand the session to a person (and why), or nothing; ``closed`` when the
    customer ended the session with the bot."""

    handoff: bool = False
    reason: str = ""
    closed: bool = False


def answer(session: Session, messages: list[Message]) -> Outcome:
    """Answer one burst (in order; read as one turn); a burst already answered is not answered again.

    ERP failures are the customer's to hear about (``erp_down``); the door's refusals (CompanyInactive,
    NoChannel, WindowClosed for a burst replayed after its window) propagate: the caller's transaction
    undoes the turn.
    """
    if not messages:
        return outcome_of(session)
    answered = set(session.data.get("answered", []))
    if answered and {m.pk for m in messages} <= answered:
        return outcome_of(session)
    turn = Turn(session, messages)
    state = state_of(session.state)
    if FLOW[state].ends or not session.is_open:
        pass  # the bot's part is over: what was said is kept, nothing is answered
    elif not session.company.bot_enabled:
        state = _enter(turn, State.HANDED_OFF, "bot_disabled", quiet=True)
    else:
        state = _run(turn, state)
    turn.data["answered"] = [m.pk for m in messages]
    sessions.add_to_transcript(session, turn.lines)
    sessions.move(session, state=state, data=turn.data)
    if state == State.FINISHED:
        sessions.close(session, reason=Session.CloseReason.FINISHED)
    return outcome_of(session)


def outcome_of(session: Session) -> Outcome:
    state = state_of(session.state)
    if state == State.HANDED_OFF:
        return Outcome(handoff=True, reason=session.data.get("handoff_reason", ""))
    return Outcome(closed=state == State.FINISHED or not session.is_open)


def _run(turn: Turn, state: State) -> State:
    if turn.quarantined:
        turn.say_text("quarantined_attachment")
    outcome = _act(turn, state)
    for _ in range(MAX_STEPS):
        target = next_state(state, outcome)
        if outcome in RETRY:
            failures = turn.data.get("failures", 0) + 1
            turn.data["failures"] = failures
            if failures >= turn.company.max_invalid_answers:
                outcome = "too_many_invalid"
                continue
            _say_why(turn, FLOW[state].invalid, outcome, quarantined=turn.quarantined)
        else:
            turn.data.pop("failures", None)
        if target == State.MENU and (intent := turn.data.pop("intent", None)):
            state, outcome = State.MENU, _guarded(turn, State.MENU, lambda: actions.choose_from_menu(turn, intent))
            continue
        return _enter(turn, target, outcome, again=outcome in DONE)
    raise RuntimeError(f"the bot's table loops from {state} on {outcome!r}")


def _act(turn: Turn, state: State) -> str:
    """The state's action on the burst, or the side rails: a person asked for, nothing but media."""
    if state == State.START:
        return _guarded(turn, state, lambda: actions.recognise(turn))
    if not turn.answers:
        return "media"
    if state != State.MENU and menu.asked_for(turn.words, turn.wording) == menu.PERSON:
        return "asked_for_person"
    return _guarded(turn, state, lambda: actions.ACTIONS[state](turn))


def _guarded(turn: Turn, state: State, act: Callable[[], str]) -> str:
    try:
        return act()
    except ErpNotConfigured:
        logger.warning("Bot session %s: the company has no ERP set up", turn.session.pk)
        return "no_erp" if state == State.START else "erp_down"
    except ErpError as exc:
        logger.warning("Bot session %s: the ERP did not answer in %s (%s)", turn.session.pk, state, exc.code)
        return "erp_down"


def _say_why(turn: Turn, invalid: str, outcome: str, *, quarantined: bool) -> None:
    if outcome == "not_found":
        turn.say_text("document_not_found")
    elif outcome == "invalid":
        turn.say_text(invalid)
    elif turn.located:
        turn.say_text("location_not_understood")
    elif not quarantined:  # a quarantined file was answered already
        turn.say_text("media_not_understood")


def _enter(turn: Turn, state: State, outcome: str, *, again: bool = False, quiet: bool = False) -> State:
    if state == State.HANDED_OFF:
        turn.data["handoff_reason"] = HANDOFF_REASONS.get(outcome, outcome)
        if not quiet:
            _announce_handoff(turn, outcome)
    elif state == State.FINISHED:
        turn.say_text("goodbye")
    else:
        questions.ask(turn, state, again=again)
    return state


def _announce_handoff(turn: Turn, outcome: str) -> None:
    company = turn.company
    if outcome == "too_many_invalid":
        turn.say_text("too_many_invalid")
    turn.say_text("handoff", protocol=turn.session.protocol)
    now = timezone.now()
    if business_hours.is_open(company.business_hours, company.timezone, now):
        return
    opening = business_hours.next_opening(company.business_hours, company.timezone, now)
    if opening is None:
        turn.say_text("outside_hours_no_opening")
    else:
        turn.say_text("outside_hours", when=when(turn, opening, now))


def when(turn: Turn, opening: dt.datetime, now: dt.datetime) -> str:
    """``hoje às 08:00``, ``amanhã às 08:00`` or ``segunda-feira, 15/12, às 08:00``, in the company's time zone."""
    local_now = now.astimezone(opening.tzinfo)
    time = opening.strftime("%H:%M")
    days = (opening.date() - local_now.date()).days
    if days == 0:
        return turn.text("when_today", time=time)
    if days == 1:
        return turn.text("when_tomorrow", time=time)
    weekday = WEEKDAY_NAMES[opening.weekday()]
    return turn.text("when_later", weekday=weekday, date=opening.strftime("%d/%m"), time=time)
