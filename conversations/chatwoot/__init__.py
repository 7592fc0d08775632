"""Chatwoot, where agents work: its application API through an API-channel inbox, and its webhook signatures."""
