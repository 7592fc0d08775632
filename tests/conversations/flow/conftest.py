"""The bot's fixtures (a company on the fake IXC, customers writing to it) for the whole conversation's tests."""

from tests.conversations.bot.conftest import erp, erp_company, no_dispatch  # noqa: F401
