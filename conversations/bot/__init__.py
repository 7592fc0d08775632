"""The built-in bot: recognises the customer, confirms the account, and serves the menu (second copy of a bill,
trust unlock, a person). ``flow.answer`` is its entry point."""
