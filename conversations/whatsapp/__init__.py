"""WhatsApp providers: one interface (``base``), one module per provider (cloud, evolution, console)."""
