"""SIP trunks: where outbound calls leave (PRODUCT.md §4)."""
