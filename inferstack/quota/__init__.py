"""Quotas and budgets per API key and per tenant: requests and tokens per minute, concurrent
requests, USD per day and month. Reserved at admission, settled with the real usage, counted
in this process or in Redis (atomic scripts, exact across gateway replicas)."""
