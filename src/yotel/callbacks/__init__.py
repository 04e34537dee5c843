"""Scheduled callbacks (Control API `schedule_callback`), dialled by the dialer (PRODUCT.md §4)."""
