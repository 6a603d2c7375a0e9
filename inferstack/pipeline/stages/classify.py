"""The classify stage: the intent of the latest user message as the client sent it (BERT, off the
event loop), which the router and the retrieve stage read."""

from __future__ import annotations

from inferstack.config import Settings
from inferstack.models.classifier import ClassifierService
from inferstack.pipeline.call import Call
from inferstack.pipeline.stage import Components, Stage


class ClassifyStage(Stage):
    name = "classify"
    in_dry_run = True

    def __init__(self, classifier: ClassifierService) -> None:
        self.classifier = classifier

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.classifier.enabled and settings.classifier.in_chat

    @classmethod
    def build(cls, parts: Components) -> Stage | None:
        return cls(parts.classifier) if parts.classifier is not None else None

    async def on_request(self, call: Call) -> None:
        text = call.original_text
        if text is None:
            return
        call.intent = intent = await self.classifier.intent_of(text)
        call.extension["intent"] = intent.as_dict()
