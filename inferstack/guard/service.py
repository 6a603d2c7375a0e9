"""The guard stage: input checks (PII + secrets with Presidio; injection, jailbreak and toxicity
through a Guardrails `Guard`), the output filter, retrieved-chunk screening, per-tenant policy.

No HTTP here. CPU work runs on one worker thread so the event loop keeps serving. Audit lines
carry finding types and counts only, never values.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from inferstack.config.guard import PATTERN_ENTITIES, SECRET, GuardConfig, GuardPolicy
from inferstack.errors import InferstackError
from inferstack.guard.findings import Finding, counts
from inferstack.guard.metrics import GuardMetrics
from inferstack.guard.pii import NER_ENTITIES, PiiDetector
from inferstack.guard.redact import Pseudonyms, Redactor, masked
from inferstack.guard.stream import OutputFilter
from inferstack.guard.validators import TextScorer, build_text_guard

audit = logging.getLogger("inferstack.audit")
TEXT_FINDINGS = ("PROMPT_INJECTION", "JAILBREAK", "TOXIC")


class GuardBlocked(InferstackError):
    status = 400
    type = "invalid_request_error"
    code = "content_policy_violation"


@dataclass
class ScanResult:
    blocked: bool
    reasons: list[str]
    findings: list[Finding]
    redacted_text: str
    actions: dict[str, str] = field(default_factory=dict)  # finding type -> action taken

    def body(self) -> dict[str, Any]:
        findings = [f.as_dict() for f in self.findings]
        return {"blocked": self.blocked, "reasons": self.reasons, "findings": findings,
                "redacted_text": self.redacted_text}  # fmt: skip


@dataclass
class InputVerdict:
    texts: list[str]
    pseudonyms: Pseudonyms | None
    summary: dict[str, Any]


class GuardService:
    def __init__(
        self, config: GuardConfig, pii: PiiDetector, scorer: TextScorer, metrics: GuardMetrics
    ) -> None:
        self.config = config
        self.pii = pii
        self.scorer = scorer
        self.metrics = metrics
        self.redactor = Redactor()
        self.detect_output = pii.pattern_detector([*PATTERN_ENTITIES, SECRET])
        self.text_guards = {
            name: build_text_guard(scorer.score, p.injection.threshold, p.toxicity.threshold)
            for name, p in config.policies.items()
        }
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guard")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _policy(self, tenant: str) -> tuple[str, GuardPolicy]:
        name = self.config.tenants.get(tenant, "default")
        return name, self.config.policies[name]

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    # ---- checks -------------------------------------------------------------------------
    def _timed(self, check: str, fn: Callable[..., Any], *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.metrics.check_seconds.labels(check).observe(time.perf_counter() - started)

    def _pii(self, text: str, policy: GuardPolicy) -> list[Finding]:
        entities = list(policy.pii.entities) if policy.pii.action != "off" else []
        if policy.secrets != "off":
            entities.append(SECRET)
        if not entities:
            return []
        return self._timed("pii", self.pii.analyze, text, entities, policy.pii.threshold)  # type: ignore[no-any-return]

    def _text(self, text: str, policy_name: str, policy: GuardPolicy, length: int) -> list[Finding]:
        """Injection, jailbreak and toxicity findings of `text`, each spanning the `length`
        characters of the message it was made from."""
        if policy.injection.action == "off" and policy.toxicity.action == "off":
            return []
        started = time.perf_counter()
        scores = self.scorer.score(text)
        failures = self.text_guards[policy_name].failures(text, scores)
        self.metrics.check_seconds.labels("text").observe(time.perf_counter() - started)
        found = []
        for kind in failures:
            if kind == "TOXIC" and policy.toxicity.action != "off":
                found.append(Finding(kind, 0, length, scores.toxic))
            elif kind in ("PROMPT_INJECTION", "JAILBREAK") and policy.injection.action != "off":
                found.append(Finding(kind, 0, length, scores.injection + scores.jailbreak))
        return found

    def _action(self, finding: Finding, policy: GuardPolicy) -> str:
        if finding.type == SECRET:
            return policy.secrets
        if finding.type == "TOXIC":
            return policy.toxicity.action
        if finding.type in TEXT_FINDINGS:
            return policy.injection.action
        return policy.pii.action

    def _decide(
        self, text: str, findings: list[Finding], policy: GuardPolicy, pseudonyms: Pseudonyms | None
    ) -> ScanResult:
        actions = {f.type: self._action(f, policy) for f in findings}
        reasons = sorted({("PII" if t not in (*TEXT_FINDINGS, SECRET) else t) for t, a in actions.items()
                          if a == "block"})  # fmt: skip
        spans = [f for f in findings if f.type not in TEXT_FINDINGS and actions[f.type] == "redact"]
        redacted = self.redactor.redact(
            text, spans, pseudonyms if policy.pii.mode == "pseudonymize" else None
        )
        return ScanResult(bool(reasons), reasons, findings, redacted, actions)

    def scan_sync(self, text: str, direction: str, tenant: str, pseudonyms: Pseudonyms | None = None,
                  text_checks: bool = True) -> ScanResult:  # fmt: skip
        name, policy = self._policy(tenant)
        if direction == "output":
            output = self.output_filter(tenant, None)
            findings = output.detect(text) if output.detect else []
            return ScanResult(False, [], list(findings), output.apply(text, findings))
        findings = self._pii(text, policy)
        if text_checks:
            # The classifier reads the text with pattern PII (e-mail, phone, card, ...) masked:
            # such a value says nothing about injection, and values it never saw in training
            # add noise (an e-mail beside "Say hello." scored 0.53 unmasked, 0.12 masked).
            # Names stay: a persona's name ("DAN") is what marks a jailbreak.
            patterns = [f for f in findings if f.type not in NER_ENTITIES]
            scored = masked(text, patterns) if patterns else text
            findings += self._text(scored, name, policy, len(text))
        return self._decide(text, findings, policy, pseudonyms)

    async def scan(self, text: str, direction: str, tenant: str) -> ScanResult:
        result: ScanResult = await self._run(self.scan_sync, text, direction, tenant)
        self._record(direction, result)
        return result

    # ---- the chat path ------------------------------------------------------------------
    async def check_input(self, texts: Sequence[str], tenant: str) -> InputVerdict:
        """PII on every user text; injection/jailbreak/toxicity on the last one (earlier turns
        were checked when they were sent). Raises GuardBlocked; else the redacted texts."""
        _, policy = self._policy(tenant)
        pseudonyms = Pseudonyms() if policy.pii.mode == "pseudonymize" else None

        def run() -> list[ScanResult]:
            last = len(texts) - 1
            return [self.scan_sync(t, "input", tenant, pseudonyms, i == last) for i, t in enumerate(texts)]

        results: list[ScanResult] = await self._run(run)
        merged = ScanResult(
            any(r.blocked for r in results),
            sorted({reason for r in results for reason in r.reasons}),
            [f for r in results for f in r.findings],
            "",
            {k: v for r in results for k, v in r.actions.items()},
        )
        self._record("input", merged)
        if merged.blocked:
            raise GuardBlocked(
                f"The request was blocked by the content policy ({', '.join(merged.reasons)}).",
                param="messages",
            )
        summary = {"input": {"findings": counts(merged.findings), "actions": merged.actions}}
        restore = pseudonyms if (pseudonyms and policy.pii.restore) else None
        return InputVerdict([r.redacted_text for r in results], restore, summary)

    def output_filter(self, tenant: str, pseudonyms: Pseudonyms | None) -> OutputFilter:
        _, policy = self._policy(tenant)
        out = policy.output
        return OutputFilter(
            self.detect_output if out.pii != "off" else None, out.pii == "redact", out.links,
            self.config.link_allowlist, out.toxicity == "redact", pseudonyms,
            self.config.stream_hold_ms / 1000,
        )  # fmt: skip

    def record_output(self, output: OutputFilter) -> dict[str, int]:
        for (kind, action), n in Counter(output.found).items():
            self.metrics.findings.labels(kind, action, "output").inc(n)
        found = dict(sorted(Counter(kind for kind, _ in output.found).items()))
        if found:
            audit.info("guard direction=output findings=%s", _fmt(found))
        return found

    async def screen_chunks(self, texts: Sequence[str], tenant: str) -> list[bool]:
        """Which retrieved chunks may enter a prompt (indirect injection is dropped)."""
        _, policy = self._policy(tenant)
        if policy.chunks == "off" or not texts:
            return [True] * len(texts)

        def run() -> list[bool]:
            return [s.injection < policy.chunk_threshold for s in self.scorer.score_many(texts)]

        keep: list[bool] = await self._run(run)
        dropped = keep.count(False)
        if dropped:
            action = "drop" if policy.chunks == "drop" else "log"
            self.metrics.findings.labels("PROMPT_INJECTION", action, "retrieved").inc(dropped)
            audit.info("guard direction=retrieved action=%s chunks=%d", action, dropped)
        return keep if policy.chunks == "drop" else [True] * len(texts)

    def _record(self, direction: str, result: ScanResult) -> None:
        for f in result.findings:
            self.metrics.findings.labels(f.type, result.actions.get(f.type, "redact"), direction).inc()
        if result.findings:
            audit.info("guard direction=%s blocked=%s findings=%s", direction, result.blocked,
                       _fmt(counts(result.findings)))  # fmt: skip


def _fmt(found: dict[str, int]) -> str:
    return ",".join(f"{k}:{v}" for k, v in found.items())
