"""The WhatsApp Business Accounts behind a set of channels (no model import: data migrations use it too)."""

from typing import Any


def cloud_wabas(channels: Any) -> list[str]:
    """The distinct WABA ids of the Cloud channels in the ``channels`` queryset, sorted."""
    return sorted(set(channels.filter(kind="cloud").exclude(waba_id="").values_list("waba_id", flat=True)))
