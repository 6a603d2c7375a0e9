"""The answer cache: answers of deterministic requests kept by a hash of the normalised
request, per tenant, in an in-process LRU or in Redis (shared by replicas)."""
