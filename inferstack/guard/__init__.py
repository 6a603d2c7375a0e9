"""Guard stage (Presidio PII, Guardrails checks): not built yet, see issue 3."""
