"""SECRET: credentials pasted into prompts or leaking into answers, as a Presidio recogniser.

Patterns for well-known key formats score high; the generic `key=value` form needs a
credential-like key name and a value of at least 8 non-space characters."""

from __future__ import annotations

from presidio_analyzer import Pattern, PatternRecognizer

from inferstack.config.guard import SECRET

SECRET_PATTERNS = (
    Pattern(
        "private_key",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        1.0,
    ),
    Pattern("openai_key", r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{20,}\b", 0.95),
    Pattern("aws_access_key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", 0.95),
    Pattern("github_token", r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}\b", 0.95),
    Pattern("slack_token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b", 0.95),
    Pattern("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}\b", 0.95),
    Pattern("stripe_key", r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}\b", 0.95),
    Pattern("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b", 0.9),
    Pattern("bearer", r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*", 0.9),
    Pattern(
        "key_value",
        r"(?i)\b(?:password|passwd|pwd|passphrase|secret|client_secret|api[_-]?key|access[_-]?token|"
        r"auth[_-]?token|token)\b\s*[:=]\s*[\"']?[^\s\"',;]{8,}",
        0.85,
    ),
)


class SecretRecognizer(PatternRecognizer):
    def __init__(self) -> None:
        super().__init__(supported_entity=SECRET, patterns=list(SECRET_PATTERNS), name="SecretRecognizer")
