"""The live spend dashboard's WebSocket: one company's figures, sent on connect and on every push of its group.

The page connects to ``/ws/dashboard/spend/?company=<contract>`` with its session cookie (config/asgi.py puts
the session's user in the scope) and is let in under the page's own rule (``billing.dashboard_access``). The
consumer joins only that company's group (``billing.push.group_name``) and sends each ``spend.changed``
message on as it came: the push already holds the figures, so no consumer reads the database for it.

A refused socket is accepted and then closed with a code the page acts on (4401: log in again; 4403, 4404:
stop and say why), because a handshake refused outright reaches the browser only as 1006, indistinguishable
from a network failure, and the page would keep retrying.

The in-memory channel layer (no ``REDIS_URL``) reaches this process only, and receipts are handled by the
event workers' processes, whose pushes never arrive here: with it, the consumer also reads the figures
every ``poll_seconds`` and sends them when they changed.
"""

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import InMemoryChannelLayer

from billing import dashboard_access, push
from billing.exceptions import DashboardRefused

logger = logging.getLogger(__name__)

NOT_LOGGED_IN = 4401
COMPANY_REQUIRED = 4400  # platform staff name the company they watch


def _company_id(user: Any, contract: str | None) -> int | None:
    company = dashboard_access.company_to_watch(user, contract)
    return company.pk if company is not None else None


class SpendDashboardConsumer(AsyncJsonWebsocketConsumer):
    poll_seconds: float | None = 1.0

    async def connect(self) -> None:
        self.company_id: int | None = None
        self._sent: dict[str, Any] | None = None
        self._poller: asyncio.Task | None = None
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=NOT_LOGGED_IN, reason="Log in again.")
            return
        contract = parse_qs(self.scope.get("query_string", b"").decode()).get("company", [""])[0]
        try:
            company_id = await database_sync_to_async(_company_id)(user, contract)
        except DashboardRefused as refused:
            await self.close(code=4000 + refused.status, reason=refused.message)
            return
        if company_id is None:
            await self.close(code=COMPANY_REQUIRED, reason="Name the company to watch: ?company=<contract>.")
            return
        self.company_id = company_id
        self.groups = [push.group_name(company_id)]
        await self.channel_layer.group_add(self.groups[0], self.channel_name)
        await self._send_figures(await database_sync_to_async(push.figures)(company_id))
        if self.poll_seconds and isinstance(self.channel_layer, InMemoryChannelLayer):
            self._poller = asyncio.create_task(self._poll())

    async def disconnect(self, code: int) -> None:
        if self._poller is not None:
            self._poller.cancel()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The page's keep-alive pings (so proxies keep the idle socket open) need no answer."""

    async def spend_changed(self, event: dict[str, Any]) -> None:
        """A push to the group: sent on when it is this company's (the group holds no other) and news."""
        if event.get("company_id") == self.company_id:
            await self._send_figures(event)

    async def _send_figures(self, figures: dict[str, Any]) -> None:
        if figures != self._sent:
            self._sent = figures
            await self.send_json(figures)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                figures = await database_sync_to_async(push.figures)(self.company_id)
            except Exception:
                logger.exception("Could not read the spend figures of company %s", self.company_id)
                continue
            await self._send_figures(figures)
