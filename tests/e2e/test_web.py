"""The chat and operator pages in a real headless Chromium (Debian's, driven by Playwright)
against the real gateway and vLLM: the answer streams in over several frames, sources show for
a grounded question, the guard notice names a redacted e-mail by type only, Stop stops vLLM, a
reload continues the conversation, the operator page counts the requests, and HTML in answers
and documents renders as text. Screenshots go to reports/ui/."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from loadtest.bench_placement import LIGHT
from tests.e2e.conftest import Gateway, start_gateway, vllm_counts, wait_for
from tests.e2e.test_errors_http import assert_backend_stops, generated

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "reports" / "ui"
XSS_TITLE = "<script>window.__xss = 'title'</script>Lighthouse rota"
XSS_TEXT = (
    "The lighthouse keeper on duty this winter is Marguerite Okafor. She lights the lamp at dusk. "
    "<img src=x onerror=\"window.__xss = 'document'\"> Visitors may climb the tower on Sundays."
)
# Collects what the answer being written shows at every DOM change, to see it grow.
WATCH_FRAMES = """() => {
  window.__frames = [];
  new MutationObserver(() => {
    const bodies = document.querySelectorAll('.msg.assistant .body');
    const last = bodies[bodies.length - 1];
    if (last) window.__frames.push(last.textContent);
  }).observe(document.getElementById('log'), {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        # Root in a container: Chromium's own sandbox needs user namespaces it may not have.
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, gateway: Gateway) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    opened = context.new_page()
    opened.goto(f"{gateway.url}/")
    expect(opened.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    yield opened
    context.close()


def send(page: Page, text: str, max_tokens: int = 24) -> None:
    page.fill("#max-tokens", str(max_tokens))
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")


def last_answer(page: Page, timeout_s: float = 120) -> dict[str, object]:
    """Waits for the latest answer to finish; its text, route badge, notices and sources."""
    answer = page.locator(".msg.assistant").last
    expect(answer).not_to_have_attribute("aria-busy", "true", timeout=timeout_s * 1000)
    return {
        "text": answer.locator(".body").inner_text(),
        "route": answer.locator(".badge.route").all_inner_texts(),
        "notices": answer.locator(".notice").all_inner_texts(),
        "errors": answer.locator(".error").all_inner_texts(),
        "sources": answer.locator(".sources li").all_inner_texts(),
    }


def test_the_answer_streams_in_with_a_waiting_state_and_a_route_badge(page: Page) -> None:
    page.evaluate(WATCH_FRAMES)
    page.fill("#prompt", "Tell me a short fact about the sea.")
    page.press("#prompt", "Shift+Enter")  # a new line, nothing sent
    assert page.input_value("#prompt").endswith("\n") and page.locator(".msg").count() == 0
    send(page, "Tell me a short fact about the sea.", max_tokens=40)
    answer = last_answer(page)
    frames: list[str] = page.evaluate("window.__frames")
    assert frames[0] == "Waiting for the first token…"
    grown = [f for i, f in enumerate(frames) if f and f != frames[0] and (i == 0 or f != frames[i - 1])]
    assert len(grown) >= 3, grown  # the text grew over several frames, not in one piece
    assert answer["text"] and not answer["errors"]
    assert answer["route"] and "smollm2-135m" in answer["route"][0]
    page.screenshot(path=str(SHOTS / "chat.png"), full_page=True)


def test_a_grounded_question_shows_its_sources_and_document_html_stays_text(
    page: Page, http: httpx.Client
) -> None:
    document = {"id": "rota/lighthouse.md", "title": XSS_TITLE, "text": XSS_TEXT}
    http.post("/v1/collections/lighthouse/documents", json={"documents": [document]}).raise_for_status()
    listed = {c["name"]: c["chunks"] for c in http.get("/v1/collections").json()["data"]}
    assert listed["lighthouse"] == 1 and "_memory" not in listed  # the memory index is not a collection
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    page.select_option("#collection", "lighthouse")
    send(page, "Who is the lighthouse keeper on duty this winter?")
    answer = last_answer(page)
    assert answer["sources"] and answer["sources"][0] == XSS_TITLE  # shown as text, tags and all
    assert page.locator("#log script, #log img").count() == 0
    assert page.evaluate("window.__xss") is None
    page.screenshot(path=str(SHOTS / "chat-grounded.png"), full_page=True)


def test_html_in_an_answer_renders_as_text(page: Page) -> None:
    """The page's own handling of a hostile answer, fed through its real stream reader: this one
    answer is served by Playwright instead of vLLM (SmolLM2 cannot be made to write it)."""
    hostile = (
        "Here: <script>window.__xss='answer'</script> **bold** <img src=x onerror=\"window.__xss='img'\">"
    )
    chunks = [
        {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
         "choices": [{"index": 0, "delta": {"content": hostile[i : i + 12]}}]}
        for i in range(0, len(hostile), 12)
    ]  # fmt: skip
    events = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    page.route("**/v1/chat/completions", lambda route: route.fulfill(
        status=200, headers={"content-type": "text/event-stream"}, body=events))  # fmt: skip
    send(page, "anything")
    answer = last_answer(page)
    assert "<script>window.__xss='answer'</script>" in answer["text"] and "onerror=" in answer["text"]
    assert page.locator(".msg.assistant .body strong").inner_text() == "bold"  # Markdown still applies
    assert page.locator("#log script, #log img").count() == 0
    assert page.evaluate("window.__xss") is None


def test_the_guard_notice_names_the_type_never_the_value(page: Page) -> None:
    send(page, "My email is jane.doe@example.com, please just say ok.", max_tokens=8)
    answer = last_answer(page)
    notices = " ".join(answer["notices"])  # type: ignore[arg-type]
    assert "EMAIL_ADDRESS" in notices and "jane" not in notices


def test_stop_ends_the_stream_and_vllm_stops_generating(page: Page, gateway: Gateway) -> None:
    before = generated(gateway)
    send(page, "Count from 1 to 1000, one number per line.", max_tokens=1500)
    body = page.locator(".msg.assistant .body").last
    wait_for(lambda: len(body.inner_text()) > 20, 60, "the long answer streaming")
    wait_for(lambda: vllm_counts(gateway.vllm_url)[0] >= 1, 10, "vLLM running the answer")
    page.click("#stop")
    answer = last_answer(page, timeout_s=10)
    assert "Stopped." in answer["notices"] and not answer["errors"]
    assert_backend_stops(gateway, before)
    expect(page.locator("#send")).to_be_enabled()


def test_a_reload_continues_the_conversation_and_feedback_is_stored(page: Page, http: httpx.Client) -> None:
    page.click("#new-chat")
    send(page, "I like to bake bread on weekends. Reply with one word.", max_tokens=8)
    last_answer(page)
    session = page.evaluate("localStorage.getItem('inferstack.session')")
    page.locator(".msg.assistant .feedback button[aria-label='Good answer']").last.click()
    expect(page.locator("button[aria-label='Good answer']").last).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(page.locator(".msg.user").first).to_contain_text("bake bread on weekends")
    assert page.locator(".msg").count() == 2  # the stored turn, shown again
    send(page, "What do I like to do on weekends?", max_tokens=8)
    answer = last_answer(page)
    assert not answer["errors"]
    stored = http.get(f"/v1/sessions/{session}/messages").json()["data"]
    assert [m["role"] for m in stored] == ["user", "assistant", "user", "assistant"]


def test_the_page_is_usable_at_375_px(browser: Browser, gateway: Gateway) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740})
    narrow = context.new_page()
    narrow.goto(f"{gateway.url}/")
    expect(narrow.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 375
    expect(narrow.locator("#prompt")).to_be_focused()
    assert narrow.locator("label[for='prompt']").count() == 1
    assert narrow.locator("#log").get_attribute("aria-live") == "polite"
    context.close()


def test_the_operator_page_counts_the_requests(browser: Browser, gateway: Gateway) -> None:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    admin = context.new_page()
    admin.goto(f"{gateway.url}/admin")
    expect(admin.locator("body")).to_have_attribute("data-ready", "true", timeout=30_000)
    requests = admin.locator(".tile[data-metric='requests'] .value")
    deadline = time.monotonic() + 10
    while int(requests.inner_text()) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert int(requests.inner_text()) > 0
    expect(admin.locator("#backends")).to_contain_text("smollm2-135m")
    expect(admin.locator("#backends")).to_contain_text("healthy")
    expect(admin.locator("#recent tbody tr").first).not_to_contain_text("none yet")
    # Each refresh keeps a snapshot: after a few, the tiles draw their charts.
    expect(admin.locator(".tile[data-metric='requests_per_min'] polyline")).to_have_count(1, timeout=20_000)
    admin.screenshot(path=str(SHOTS / "admin.png"), full_page=True)
    context.close()


def test_with_auth_on_the_pages_ask_for_the_key_and_keep_it_in_the_tab_only(
    browser: Browser, gateway: Gateway, tmp_path_factory: pytest.TempPathFactory
) -> None:
    keys = [
        {"tenant": "web", "key_env": "WEB_TEST_KEY"},
        {"tenant": "ops", "key_env": "OPS_TEST_KEY", "admin": True},
    ]
    authed = start_gateway(
        tmp_path_factory.mktemp("web-auth"),
        local_model={"serve": {"kind": "remote", "base_url": f"{gateway.vllm_url}/v1"}},
        extra_config={**LIGHT, "auth": {"api_keys": keys}},
        extra_env={"WEB_TEST_KEY": "k-web-test", "OPS_TEST_KEY": "k-ops-test"},
    )
    try:
        context = browser.new_context()
        admin = context.new_page()
        admin.goto(f"{authed.url}/admin")
        dialog = admin.locator("dialog[open]")
        expect(dialog).to_contain_text("admin key")  # the stats answered 401: the page asks
        admin.fill("dialog[open] input[type=password]", "k-web-test")  # a key without the admin scope
        admin.click("dialog[open] button")
        expect(admin.locator("#status")).to_contain_text("admin", timeout=10_000)  # 403, said on the page
        admin.evaluate("sessionStorage.clear()")
        admin.reload()
        admin.fill("dialog[open] input[type=password]", "k-ops-test")
        admin.click("dialog[open] button")
        expect(admin.locator("body")).to_have_attribute("data-ready", "true", timeout=10_000)
        assert admin.evaluate("sessionStorage.getItem('inferstack.api_key')") == "k-ops-test"
        assert "k-ops-test" not in admin.evaluate("JSON.stringify(localStorage)")  # the tab only
        context.close()
    finally:
        authed.terminate()
