"""Typed configuration of the guard: named policies (which checks run, thresholds, actions) and
which tenant uses which. Part of `Settings`; no logic here."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from inferstack.config.base import Strict

# Entity types the guard can report (Presidio names plus our non-PII findings).
PII_ENTITIES = ("PERSON", "LOCATION", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE",
                "US_SSN", "IP_ADDRESS")  # fmt: skip
PATTERN_ENTITIES = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS")
SECRET = "SECRET"

Action = Literal["block", "redact", "log", "off"]


class PiiCheck(Strict):
    action: Action = "redact"
    mode: Literal["mask", "pseudonymize"] = Field(
        default="mask", description="mask: <PERSON>; pseudonymize: <PERSON_1>, stable within a request"
    )
    restore: bool = Field(
        default=False, description="pseudonymize: map placeholders in the answer back to the values"
    )
    entities: tuple[str, ...] = PII_ENTITIES
    threshold: float = Field(default=0.6, ge=0, le=1, description="minimum NER score (PERSON, LOCATION)")

    @model_validator(mode="after")
    def _known(self) -> PiiCheck:
        unknown = sorted(set(self.entities) - set(PII_ENTITIES))
        if unknown:
            raise ValueError(f"entities: unknown {unknown}; known: {list(PII_ENTITIES)}")
        if self.restore and self.mode != "pseudonymize":
            raise ValueError("restore needs mode: pseudonymize")
        return self


class ClassifierCheck(Strict):
    """A check scored by the guard's text classifier (injection/jailbreak, or toxicity)."""

    action: Literal["block", "log", "off"] = "block"  # a whole-message finding has nothing to redact
    threshold: float = Field(default=0.5, gt=0, lt=1, description="class probability that counts")


class OutputChecks(Strict):
    # No `block`: a streamed answer is already on its way.
    pii: Literal["redact", "log", "off"] = Field(
        default="redact", description="pattern PII and secrets in answers"
    )
    links: Literal["rewrite", "drop", "off"] = Field(
        default="rewrite", description="links outside `link_allowlist`: rewritten to a marker or dropped"
    )
    toxicity: Literal["redact", "off"] = "redact"


class GuardPolicy(Strict):
    pii: PiiCheck = PiiCheck()
    secrets: Action = "redact"
    injection: ClassifierCheck = ClassifierCheck()
    toxicity: ClassifierCheck = ClassifierCheck(threshold=0.6)
    output: OutputChecks = OutputChecks()
    chunks: Literal["drop", "log", "off"] = Field(
        default="drop", description="retrieved chunks with an injection finding: dropped before the prompt"
    )
    # Documents are further from the training data than chat: a higher bar (a VPN how-to scored
    # 0.48 injection + 0.11 jailbreak).
    chunk_threshold: float = Field(default=0.8, gt=0, lt=1, description="injection score that drops a chunk")


class GuardConfig(Strict):
    enabled: bool = True
    ner: Literal["auto", "bert", "spacy", "none"] = Field(
        default="auto", description="PERSON/LOCATION: our BERT NER when trained (auto), spaCy small, or none"
    )
    link_allowlist: tuple[str, ...] = Field(
        default=(), description="domains links in answers may point to (subdomains included)"
    )
    stream_hold_ms: int = Field(
        default=1000,
        ge=0,
        le=60000,
        description="on a stream, the longest a tail that could still grow into a finding is held "
        "back before it is released (checked as it is); 0: until the text settles",
    )
    max_chars: int = Field(default=20000, ge=1, description="/v1/guard/scan text limit (413 above)")
    policies: dict[str, GuardPolicy] = Field(default_factory=lambda: {"default": GuardPolicy()})
    tenants: dict[str, str] = Field(default_factory=dict, description="tenant -> policy name")

    @model_validator(mode="after")
    def _policies(self) -> GuardConfig:
        if "default" not in self.policies:
            raise ValueError("policies: a policy named `default` is required")
        for tenant, name in self.tenants.items():
            if name not in self.policies:
                raise ValueError(f"tenants.{tenant}: unknown policy {name!r}; known: {sorted(self.policies)}")
        return self

    def policy_for(self, tenant: str) -> GuardPolicy:
        return self.policies[self.tenants.get(tenant, "default")]
