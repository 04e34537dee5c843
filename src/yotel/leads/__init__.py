"""Leads: the people a campaign dials (PRODUCT.md §4)."""
