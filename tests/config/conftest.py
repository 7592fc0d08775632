import signal

import pytest


@pytest.fixture
def signal_handlers_restored():
    """runall installs SIGINT and SIGTERM handlers of its own; give pytest its own back."""
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in previous.items():
        signal.signal(sig, handler)
