"""The guard: Presidio PII and secrets, Guardrails AI injection/jailbreak/toxicity validators,
the output filter for answers and streams, retrieved-chunk screening, per-tenant policies."""
