"""Do-not-disturb: the tenant list and the platform registry (PRODUCT.md §4)."""
