"""What the conversation core announces to the apps above it (``companies.events``).

Subscribe in ``AppConfig.ready``: ``INBOUND_MESSAGE_RECORDED.subscribe(handler)``. Payloads are plain
JSON: ids to read the rows by, and what a handler needs to decide whether to read them.
"""

from companies.events import Topic

# A customer's message was stored: {"message_id", "contact_id", "channel_id", "type"}. Its order in the
# contact's conversation is the inbound lane's (services.inbox), not the order of these events.
INBOUND_MESSAGE_RECORDED = Topic("inbound_message_recorded")

# A message's status moved: {"message_id", "direction", "purpose", "status", "at", "error_code", "error_title",
# "pricing"}; ``pricing`` is Meta's pricing object when the receipt carried one.
MESSAGE_STATUS_CHANGED = Topic("message_status_changed")

# A message was queued on a Cloud channel (Meta prices Cloud messages; Evolution costs nothing), emitted by
# the send service in its transaction: {"message_id", "channel_id", "at", "template", "language", "category",
# "in_window", "purpose", "author"}. ``template`` is the template's name ("" for a free-form message) and
# ``category`` the estimate: "service" for a free-form message, "" for a template (its category is the
# catalogue's, read by whoever needs it).
MESSAGE_QUEUED = Topic("message_queued")

# A session closed: {"session_id", "contact_id", "reason"} (``Session.CloseReason``).
SESSION_CLOSED = Topic("session_closed")

# A Chatwoot webhook was stored and authenticated: {"event_id"}; the Chatwoot bridge reads it by id.
CHATWOOT_EVENT_RECEIVED = Topic("chatwoot_event_received")
