"""The web UI llama-server serves at `/`, used in a real browser.

Headless Chromium (the distribution's, installed by .ci/install-host) driven by
Playwright opens the page on a server of the tiny model, sends a chat message
through the page and waits for the reply to appear; the screenshot is saved with
the test results.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from llama_images.adapters.engine import Engine
from llama_images.model.catalog import Smoke
from llama_images.model.project import Project
from llama_images.testing.servers import ImageUnderTest, RunningServer, serve_variant
from tests.images.shared.servers import MODEL

REPLY_TIMEOUT_MS = 240_000
MESSAGE = "Say hi to the browser test."
ASSISTANT = '[aria-label="Assistant message with actions"]'


@pytest.fixture(scope="module")
def ui_server(
    engine: Engine, server_image: ImageUnderTest, model_dir: Path, smoke: Smoke
) -> Iterator[RunningServer]:
    with serve_variant(
        engine, server_image.ref, model_dir, smoke, ["-m", MODEL, "-n", "16"]
    ) as running:
        running.wait_healthy()
        yield running


def test_root_serves_the_embedded_ui(ui_server: RunningServer) -> None:
    response = httpx.get(f"{ui_server.base_url}/", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text and "<script" in response.text


def test_chat_in_a_browser(
    ui_server: RunningServer, server_image: ImageUnderTest, project: Project
) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is missing: run ./.ci/install-host")
    results = project.root / project.settings.results_dir
    results.mkdir(parents=True, exist_ok=True)
    screenshot = results / f"web-ui-{server_image.variant}.png"
    with sync_playwright() as playwright:
        # Playwright's own browser download cannot work here: the distribution's Chromium.
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{ui_server.base_url}/", wait_until="networkidle")
            box = page.locator("textarea").first
            box.fill(MESSAGE)
            with page.expect_response(
                lambda r: r.url.endswith("/v1/chat/completions"), timeout=REPLY_TIMEOUT_MS
            ) as answered:
                box.press("Enter")
            answered.value.finished()
            generated = streamed_text(answered.value.text())
            # The reply is complete on the page when its statistics show (tokens, t/s);
            # then it must show some word of what the server generated (the tiny model's
            # text is noise, which markdown may restyle, or hide when it has no word).
            words = sorted(set(re.findall(r"[A-Za-z]{3,}", generated)))
            reply = page.locator(ASSISTANT).last
            page.wait_for_function(
                "selector => { const nodes = document.querySelectorAll(selector);"
                " const last = nodes[nodes.length - 1];"
                " return last && last.innerText.includes('t/s'); }",
                arg=ASSISTANT,
                timeout=REPLY_TIMEOUT_MS,
            )
            text = reply.inner_text()
            asked = page.get_by_text(MESSAGE).first.is_visible()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert asked, "the message sent is not shown in the conversation"
    assert generated.strip(), "the server streamed no text"
    assert not words or any(word in text for word in words), (generated, text)
    assert screenshot.stat().st_size > 0, screenshot


def streamed_text(body: str) -> str:
    """The text of a streamed chat completion: its deltas' content, in order."""
    pieces = []
    for line in body.splitlines():
        payload = line.removeprefix("data: ").strip()
        if not line.startswith("data: ") or payload == "[DONE]":
            continue
        for choice in json.loads(payload).get("choices", []):
            pieces.append(choice.get("delta", {}).get("content") or "")
    return "".join(pieces)
