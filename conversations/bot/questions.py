"""What each state asks, as the message that asks it on the turn's channel."""

from collections.abc import Callable

from conversations.bot import menu, prompts
from conversations.bot.answers import Option
from conversations.bot.machine import FLOW, State
from conversations.bot.texts import DEFAULTS
from conversations.bot.turn import Turn


def contract_options(turn: Turn) -> list[Option]:
    """The contracts offered for a trust unlock, kept in the session between the question and its answer."""
    return [
        Option(id=f"contract:{c['id']}", title=turn.text("contract_option", contract=c["id"]), words=(c["id"],))
        for c in turn.data.get("contracts", [])
    ]


def _confirm_account(turn: Turn, asks: str) -> None:
    candidates = turn.data.get("candidates") or [{"name": ""}]
    body = turn.text(asks, name=candidates[0]["name"])
    turn.say(prompts.yes_no(turn.wording, body, interactive=turn.interactive))


def _ask_document(turn: Turn, asks: str) -> None:
    turn.say_text(asks)


def _menu(turn: Turn, asks: str) -> None:
    options = menu.options(turn.wording)
    turn.say(prompts.choose(turn.text(asks), options, button=turn.text("menu_button"), interactive=turn.interactive))


def _choose_contract(turn: Turn, asks: str) -> None:
    plans = [c.get("plan", "") for c in turn.data.get("contracts", [])]
    turn.say(
        prompts.choose(
            turn.text(asks),
            contract_options(turn),
            button=turn.text("choose_contract_button"),
            interactive=turn.interactive,
            descriptions=plans,
        )
    )


def _offer_person(turn: Turn, asks: str) -> None:
    turn.say(prompts.yes_no(turn.wording, turn.text(asks), interactive=turn.interactive))


# Each asking state's question, worded by the text its row of the table names.
QUESTIONS: dict[State, Callable[[Turn, str], None]] = {
    State.CONFIRM_ACCOUNT: _confirm_account,
    State.ASK_DOCUMENT: _ask_document,
    State.MENU: _menu,
    State.CHOOSE_CONTRACT: _choose_contract,
    State.OFFER_PERSON: _offer_person,
}


def ask(turn: Turn, state: State, *, again: bool = False) -> None:
    """Ask ``state``'s question; ``again`` after something was done, in its "anything else?" wording if it has one."""
    asks = FLOW[state].asks
    if again and f"{asks}_again" in DEFAULTS:
        asks = f"{asks}_again"
    QUESTIONS[state](turn, asks)
