"""The bot's questions as message contents for the channel they go out on.

On a Cloud channel a yes/no question has reply buttons and a choice a list; elsewhere (Evolution, whose
buttons and lists phones often do not show) both are numbered text, answered by typing the number.
Meta's limits: at most 3 buttons with titles of 20 characters; at most 10 list rows with titles of 24,
descriptions of 72 and a button of 20 (https://developers.facebook.com/docs/whatsapp/cloud-api/messages/interactive-list-messages).
"""

from collections.abc import Sequence
from typing import Any

from conversations.bot.answers import NO_ID, YES_ID, Option
from conversations.bot.texts import Wording
from conversations.whatsapp import content as contents
from conversations.whatsapp.evolution import render_menu

BUTTON_TITLE, ROW_TITLE, ROW_DESCRIPTION, LIST_BUTTON, LIST_ROWS = 20, 24, 72, 20, 10


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1].rstrip()}…"


def yes_no(wording: Wording, body: str, *, interactive: bool) -> dict[str, Any]:
    """``body`` answered with Sim or Não."""
    yes, no = wording.text("yes"), wording.text("no")
    if interactive:
        return contents.buttons(body, [(YES_ID, _cut(yes, BUTTON_TITLE)), (NO_ID, _cut(no, BUTTON_TITLE))])
    return contents.text(render_menu(body, [("", [yes, no])]))


def choose(
    body: str,
    options: Sequence[Option],
    *,
    button: str,
    interactive: bool,
    descriptions: Sequence[str] = (),
) -> dict[str, Any]:
    """``body`` answered with one of ``options``: a list on Cloud, numbered text elsewhere."""
    details = list(descriptions) + [""] * (len(options) - len(descriptions))
    if interactive and len(options) <= LIST_ROWS:
        rows = [
            (option.id, _cut(option.title, ROW_TITLE), _cut(detail, ROW_DESCRIPTION))
            for option, detail in zip(options, details, strict=True)
        ]
        # One section, titled like the button: Meta asks for titles only past one section, but an empty one
        # is not a title.
        return contents.choice_list(body, _cut(button, LIST_BUTTON), [(_cut(button, ROW_TITLE), rows)])
    lines = [f"{o.title} ({d})" if d else o.title for o, d in zip(options, details, strict=True)]
    return contents.text(render_menu(body, [("", lines)]))


def readable(content: dict[str, Any]) -> str:
    """What a question said, options included, for the transcript an agent reads at handoff."""
    said = contents.readable_text(content)
    if content["kind"] == "buttons":
        said += "\n" + " | ".join(b["title"] for b in content["buttons"])
    elif content["kind"] == "list":
        said += "\n" + "\n".join(f"- {r['title']}" for s in content["sections"] for r in s["rows"])
    return said
