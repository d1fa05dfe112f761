"""The HTML report in headless Chromium: what a reader sees, and no request leaves the page.

Skips (saying why) only where no browser is installed; `.ci/run` installs chromium and
chromium-driver.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _acme_runs import PLANTED_EMAIL, Investigated

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
)
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip(
        f"no headless browser: {CHROMIUM} and {CHROMEDRIVER} are needed "
        "(apt-get install chromium chromium-driver; .ci/run does this)",
        allow_module_level=True,
    )

from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture(scope="module")
def report_file(investigated: Investigated, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("report") / "report.html"
    investigated.w.run("report", investigated.second, "--as", "dora@acme", "--out", str(target))
    return target


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        "--window-size=1280,2000",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page(browser: Any, report_file: Path) -> Any:
    browser.get(report_file.as_uri())
    return browser


def test_the_reader_sees_the_title_and_every_finding_title(investigated: Investigated, page: Any) -> None:
    assert page.title == f"Warden report: privacy-policy-review {investigated.second}"
    assert page.find_element(By.TAG_NAME, "h1").text == page.title
    shown = [h.text for h in page.find_elements(By.CSS_SELECTOR, "#findings article h3")]
    assert shown == [
        "Missing: Right to withdraw consent",
        "Missing: Storage period or the criteria that set it",
        "test finding crm-export",
        "costly finding spend",
    ]
    quote = page.find_element(By.CSS_SELECTOR, "#findings blockquote")
    assert "your consent for marketing emails" in quote.text and quote.is_displayed()


def test_the_transparency_table_shows_one_row_per_item_with_its_status(page: Any) -> None:
    rows = page.find_elements(By.CSS_SELECTOR, "table.transparency tbody tr")
    assert len(rows) == 21
    cells = {
        r.find_element(By.CSS_SELECTOR, "td").text.removesuffix(" (conditional)"): r.find_elements(
            By.TAG_NAME, "td"
        )
        for r in rows
    }
    withdraw = cells["Right to withdraw consent"]
    assert [c.text for c in withdraw[1:4]] == ["GDPR Art. 13(2)(c), 14(2)(d)", "missing", "high"]
    contact = cells["Contact details of the controller"]
    assert contact[2].text == "present" and "privacy@acme-shop.example" in contact[4].text


def test_the_approver_and_the_execution_tree_are_visible(investigated: Investigated, page: Any) -> None:
    approvals = page.find_element(By.CSS_SELECTOR, "table.approvals")
    decisions = [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in approvals.find_elements(By.CSS_SELECTOR, "tbody tr")
    ]
    approved = [row for row in decisions if row[2] == "approve"]
    assert [(row[1], row[3], row[4]) for row in approved] == [
        (investigated.second, "dora@acme", "dpo"),
        (f"{investigated.second}.checks", "dora@acme", "dpo"),
    ]
    assert PLANTED_EMAIL not in approvals.text and "[redacted:email]" in approvals.text
    tree = page.find_element(By.ID, "tree").text
    assert f"{investigated.second}.checks acme-system-checks v1" in tree
    assert "llm-spend" in tree and "$0.2500" in tree
    summary = page.find_element(By.CSS_SELECTOR, "table.summary").text
    assert "Approved by dora@acme" in summary


def test_the_charts_render_as_inline_svg(page: Any) -> None:
    charts = page.find_elements(By.CSS_SELECTOR, "#charts svg")
    assert len(charts) == 2
    for chart in charts:
        assert chart.is_displayed() and chart.size["width"] > 100 and chart.size["height"] > 20
    assert len(charts[1].find_elements(By.CSS_SELECTOR, "rect")) == 6  # one bar per analyser step


def test_the_page_makes_no_network_request(page: Any, report_file: Path) -> None:
    resources = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources == []
    linked = page.execute_script(
        "return Array.from(document.querySelectorAll('[src],[href],[srcset],[action],[data]'))"
        ".filter(e => !(e.getAttribute('href') || '').startsWith('#') || e.attributes.length > 1)"
        ".map(e => e.outerHTML.slice(0, 80))"
    )
    assert linked == []  # only jump links within the page
    assert page.find_elements(By.CSS_SELECTOR, "script, link, img, iframe, object, embed") == []
    html = report_file.read_text(encoding="utf-8")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(", html, re.IGNORECASE)


def test_jump_links_reach_each_finding_and_the_severity_filter_works_without_script(page: Any) -> None:
    articles = page.find_elements(By.CSS_SELECTOR, "#findings article")
    toc = page.find_elements(By.CSS_SELECTOR, "nav.toc ol ol a")
    assert [a.get_attribute("href").split("#")[1] for a in toc] == [a.get_attribute("id") for a in articles]
    toc[-1].click()
    assert page.execute_script("return location.hash") == "#" + articles[-1].get_attribute("id")
    severities = [a.get_attribute("class").split("sev-")[1] for a in articles]
    page.find_element(By.CSS_SELECTOR, "label[for=sev-high]").click()
    shown = [s for a, s in zip(articles, severities, strict=True) if a.is_displayed()]
    assert shown == ["high"]
    page.find_element(By.CSS_SELECTOR, "label[for=sev-all]").click()
    assert all(a.is_displayed() for a in articles)
