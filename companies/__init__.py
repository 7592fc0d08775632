"""Tenants: companies, their WhatsApp channels, API keys and the cached company lookups."""
