"""The notifications admin, one module per area."""

from notifications.admin import notices

__all__ = ["notices"]
