"""Contacts, sessions, messages and the webhooks that bring WhatsApp and Chatwoot traffic in."""
