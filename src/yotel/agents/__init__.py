"""Human agents and agent queues, the targets of `agent_queue` transfers (PRODUCT.md §4)."""
