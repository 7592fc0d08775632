"""One turn of the bot: the customer's burst of messages, read as one answer, and what the bot says back.

Every reply goes through the one door (``outbound.send_message``) on the channel the contact wrote to, as the
bot, tied to the session, with an idempotency key made of the session, the burst's last message and the
reply's place in the turn: the same burst answered again queues nothing twice.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from companies.erp.base import ErpAdapter
from companies.erp.registry import erp_for
from companies.models import Channel
from conversations.bot import answers, prompts
from conversations.bot.texts import Wording
from conversations.models import Message, Session
from conversations.services import outbound
from conversations.whatsapp import content as contents

T = TypeVar("T")

# Messages whose text is the customer's words, read as answers. A media message's caption is about the file
# (the bot tells it cannot read files), a location's text is a maps link, a reaction's an emoji.
WORD_TYPES = frozenset({"text", "interactive", "button"})
CUSTOMER, BOT = Message.Author.CUSTOMER.value, Message.Author.BOT.value


def heard(message: Message) -> str:
    """A customer's message as a transcript line (any CPF/CNPJ in it masked)."""
    if message.type in WORD_TYPES:
        return answers.masked(message.text)
    label = f"[{message.type}]"
    return f"{label} {answers.masked(message.text)}".strip() if message.text else label


class Turn:
    """A session's burst being answered: what was said, what the bot says, what the flow keeps."""

    def __init__(self, session: Session, messages: list[Message]) -> None:
        self.session, self.messages, self.last = session, messages, messages[-1]
        self.company, self.contact = session.company, session.contact
        self.wording = Wording(self.company)
        channel = outbound.reply_channel(self.company, self.contact)
        self.interactive = channel is not None and channel.kind == Channel.Kind.CLOUD
        self.data: dict[str, Any] = dict(session.data or {})
        self.lines: list[tuple[str, str]] = [(CUSTOMER, heard(m)) for m in messages]
        self.sent: list[Message] = []
        self._replies = 0
        self._erp: ErpAdapter | None = None

    # ------------------------------------------------------------------ what the customer said

    @property
    def answers(self) -> list[Message]:
        """The burst's messages that carry words, in order."""
        return [m for m in self.messages if m.type in WORD_TYPES and (m.text.strip() or m.data.get("id"))]

    @property
    def words(self) -> str:
        return "\n".join(m.text for m in self.answers)

    def read(self, reader: Callable[[Message | str], T | None]) -> T | None:
        """The burst's answer as ``reader`` reads it: the last message that reads as one (a customer who
        corrects themselves means the correction), else all the words together ("quero a", "segunda via")."""
        found = self.answers
        for message in reversed(found):
            if (answer := reader(message)) is not None:
                return answer
        return reader(self.words) if len(found) > 1 else None

    @property
    def quarantined(self) -> bool:
        return any(m.media_status == Message.MediaStatus.QUARANTINED for m in self.messages)

    @property
    def located(self) -> bool:
        return any(m.type == "location" for m in self.messages)

    # ------------------------------------------------------------------ what the bot says

    def text(self, key: str, **values: Any) -> str:
        return self.wording.text(key, **values)

    def next_key(self) -> str:
        key = f"bot:{self.session.pk}:{self.last.pk}:{self._replies}"
        self._replies += 1
        return key

    def say(self, content: dict[str, Any]) -> Message:
        message = outbound.send_message(
            company=self.company,
            to=self.contact,
            content=content,
            author=BOT,
            purpose=Message.Purpose.REPLY,
            idempotency_key=self.next_key(),
            reference=self.reference,
            session_id=self.session.pk,
        )
        self.sent.append(message)
        self.lines.append((BOT, prompts.readable(content)))
        return message

    def say_text(self, key: str, **values: Any) -> Message:
        return self.say(contents.text(self.text(key, **values)))

    def said(self, messages: list[Message]) -> None:
        """Messages queued for the bot elsewhere (a bill): they join the transcript."""
        self.sent += messages
        self.lines += [(BOT, prompts.readable(m.data["content"])) for m in messages]

    @property
    def reference(self) -> str:
        return f"session:{self.session.pk}"

    # ------------------------------------------------------------------ the ERP

    @property
    def erp(self) -> ErpAdapter:
        """The company's ERP; raises ErpNotConfigured."""
        if self._erp is None:
            self._erp = erp_for(self.company)
        return self._erp
