"""Sending from the engine's event loop for providers whose calls block (Evolution, console)."""

from typing import Any

from conversations.whatsapp import content as contents
from conversations.whatsapp.base import SendRuntime, Sent


class SendsOnThreads:
    """``send_async`` for a synchronous provider: ``before_send`` and the call run on one of the engine's threads.

    The provider is shared by those threads, so its HTTP sessions are per thread (see EvolutionProvider).
    """

    def before_send(self, *, to: str) -> None:
        """Nothing by default."""

    async def send_async(self, *, to: str, content: dict[str, Any], runtime: SendRuntime) -> Sent:
        def call() -> Sent:
            self.before_send(to=to)
            return contents.send(self, to=to, content=content)

        return await runtime.run_sync(call)
