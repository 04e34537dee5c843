"""Flows: inbound call graphs (PRODUCT.md §4); graph validation, CRUD, and later the executor."""
