"""The router: backends and deployments, the cost model, live stats, the quality scorer and
routing policies (cost-aware by default), budgets, circuit breakers, and the executor (retries,
fallbacks, mid-stream failover)."""
