"""What the template catalogue announces to the apps above it (``companies.events``)."""

from companies.events import Topic

# A template's status changed (Meta's webhook, a sync, a submission):
# {"template_id", "name", "language", "status", "reason", "source"}.
TEMPLATE_STATUS_CHANGED = Topic("template_status_changed")
