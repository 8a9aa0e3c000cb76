"""The web UI llama-server serves at `/`, used in a real browser.

Headless Chromium (the distribution's, installed by .ci/install-host) driven by
Playwright opens the page on a server of the tiny model, sends a chat message
through the page and waits for the reply to appear; the screenshot is saved with
the test results.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from llama_images.adapters.engine import Engine
from llama_images.model.catalog import Smoke
from llama_images.model.project import Project
from llama_images.smoke import ImageUnderTest, RunningServer, run_server
from tests.images.test_server import MODEL

REPLY_TIMEOUT_MS = 240_000
MESSAGE = "Say hi to the browser test."
ASSISTANT = '[aria-label="Assistant message with actions"]'


@pytest.fixture(scope="module")
def ui_server(
    engine: Engine, server_image: ImageUnderTest, model_dir: Path, smoke: Smoke
) -> Iterator[RunningServer]:
    with run_server(
        engine,
        server_image.ref,
        model_dir,
        args=["-m", MODEL, "-n", "16", *smoke.args],
        environment=dict(smoke.environment),
        requires=smoke.requires,
    ) as running:
        running.wait_healthy()
        yield running


def test_root_serves_the_embedded_ui(ui_server: RunningServer) -> None:
    response = httpx.get(f"{ui_server.base_url}/", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<script" in response.text and "llama" in response.text.lower()


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
            box.press("Enter")
            reply = page.locator(ASSISTANT).last
            reply.wait_for(state="visible", timeout=REPLY_TIMEOUT_MS)
            page.wait_for_function(
                "selector => { const nodes = document.querySelectorAll(selector);"
                " const last = nodes[nodes.length - 1];"
                " return last && last.innerText.trim().length > 0; }",
                arg=ASSISTANT,
                timeout=REPLY_TIMEOUT_MS,
            )
            text = reply.inner_text()
            asked = page.get_by_text(MESSAGE).first.is_visible()
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert asked, "the message sent is not shown in the conversation"
    assert text.strip(), "the assistant's reply is empty"
    assert screenshot.stat().st_size > 0, screenshot
