"""The sending engine: the messages table is the outbox; workers claim, pace and send."""
