"""The API reference (Swagger UI) in headless Chromium: it works under its
Content-Security-Policy, and neither it nor the web page can be framed by another page.
"""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page, expect

from tests.support.service import RunningService

DOCS = "/KeyfactorAPI/Documentation"


def test_swagger_ui_works_under_its_policy(page: Page, service: RunningService) -> None:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            problems.append(message.text)

    page.on("console", on_console)
    page.goto(f"{service.url}{DOCS}")
    operation = page.locator(".opblock", has_text="/KeyfactorAPI/SMTP/Test")
    expect(operation).to_be_visible()
    operation.locator(".opblock-summary").click()  # Swagger UI's script reacts
    expect(operation.get_by_text("x-keyfactor-requested-with").first).to_be_visible()
    expect(page.locator(".info .title")).to_contain_text("smtp-profile")
    assert problems == []


def test_the_reference_and_the_web_page_cannot_be_framed(page: Page,
                                                          service: RunningService) -> None:
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text)
            if "frame-ancestors" in message.text else None)
    page.set_content(f'<iframe id="docs" src="{service.url}{DOCS}"></iframe>'
                     f'<iframe id="web" src="{service.url}/"></iframe>')
    frames = {frame.name or frame.url: frame for frame in page.frames[1:]}
    assert len(page.frames) == 3, [f.url for f in page.frames]
    for frame in frames.values():
        # A refused frame shows the browser's error page, not the service's document.
        assert frame.query_selector("#swagger-ui") is None
        assert frame.query_selector("form") is None
        assert not frame.url.startswith(service.url), frame.url
    assert len(blocked) == 2, blocked
