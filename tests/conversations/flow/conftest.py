"""The bot's fixtures (a company on the fake IXC, customers writing to it) for the whole conversation's tests,
and the flow's own: a clock moved by hand, a fake Chatwoot."""

from tests.conversations.bot.conftest import channel, cloud, erp, erp_company, evolution, no_dispatch  # noqa: F401
from tests.conversations.flow.steps import chatwoot, clock  # noqa: F401
