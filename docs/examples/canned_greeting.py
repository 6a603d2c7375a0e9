"""A stage that answers a bare greeting itself, without calling a model."""

from inferstack.pipeline.answers import text_answer
from inferstack.pipeline.call import Call
from inferstack.pipeline.stage import Answer, Stage


class CannedGreeting(Stage):
    name = "canned_greeting"

    async def on_request(self, call: Call) -> Answer | None:
        if call.intent is None or call.intent.label != "greeting":
            return None  # not ours: the stages below answer it
        return text_answer(call, "Hello! What can I do for you?")
