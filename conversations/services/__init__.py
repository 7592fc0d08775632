"""Writes of the conversations app, one module per flow."""
