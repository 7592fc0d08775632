"""The customer-facing words of contract notices (seed 000: the events, their words and the text)."""

from notifications.models import Notice

# For these the customer is told how to sort it out.
NEEDS_SUPPORT = frozenset({Notice.Event.BLOCK, Notice.Event.CANCEL, Notice.Event.BANDWIDTH_LIMIT})


def contract_event_text(*, name: str, event: str, support_phone: str) -> str:
    """``Olá Maria, seu contrato foi Bloqueado em nossa base, para regularização entre em contato ...``."""
    text = f"Olá {name}, seu contrato foi {Notice.Event(event).label} em nossa base"
    if event in NEEDS_SUPPORT:
        text += ", para regularização entre em contato com a gente"
        if support_phone:
            text += f" pelo telefone {support_phone}"
    return text
