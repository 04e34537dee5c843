"""Numbers (DIDs): which flow answers an inbound call (PRODUCT.md §4)."""
