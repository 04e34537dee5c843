"""Campaigns: outbound dialling of a list of leads (PRODUCT.md §4)."""
