"""Local stand-ins for the services Ponte talks to: Meta's Graph API, Evolution API, ERPs, an SMS gateway, Chatwoot.

Real HTTP servers on 127.0.0.1 that answer in the providers' shapes and, like the providers, report
what became of each message by webhooks (signed for Meta, with the instance key for Evolution).
``make run`` starts them for the demo company's channels; the tests and the benchmarks send to them.
They import nothing of the project, so they run as their own processes (``python -m fakes.graph_api``,
``python -m fakes.evolution``, ``python -m fakes.chatwoot``). Production never starts them.
"""
