"""Tenants, API keys, scopes and bearer authentication."""
