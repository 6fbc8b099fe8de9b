"""End-to-end: Debian's chromium (driven by Playwright) uses the web page of a real uvicorn.

Searches "star wars", rates it 5 stars, waits for the recommendations to appear with their
explanations, looks up user 1, opens the models view; screenshots go to tests/artifacts/.
Never runs ``playwright install``: it drives /usr/bin/chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.conftest import store_top10
from tests.conftest import unavailable

CHROMIUM = Path(os.environ.get("MOVIEREC_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def home(cosine_model, ml100k_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Overrides conftest's: a real evaluation report (popularity, baseline on ml100k-u1)."""
    from movierec.config import Layout
    from movierec.evaluation.runner import evaluate

    path = tmp_path_factory.mktemp("browser-home")
    evaluate("ml100k-u1", "popularity,baseline", data_dir=ml100k_dir, layout=Layout(path))
    store_top10(f"sqlite:///{path / 'db' / 'movierec.db'}", cosine_model)
    return path


@pytest.fixture(scope="module")
def page(server_url: str) -> Iterator:  # type: ignore[type-arg]
    if not CHROMIUM.is_file():
        unavailable(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            pg = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            pg.on("pageerror", lambda exc: errors.append(str(exc)))
            pg.goto(server_url + "/")
            yield pg
            assert errors == [], f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()


def test_search_rate_and_get_explained_recommendations(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.get_by_label("Search movies by title").fill("star wars")
    page.get_by_role("button", name="Search").click()
    result = page.locator('#search-results li[data-movie-id="50"]')
    expect(result).to_contain_text("Star Wars (1977)")
    expect(page.locator("#search-status")).to_have_text("1 movie(s) found.")
    result.get_by_label("5 stars").check(force=True)  # the radio is visually hidden
    recs = page.locator("#new-recs li")
    expect(recs).to_have_count(10)
    expect(recs.first).to_contain_text("Return of the Jedi (1983)")
    expect(recs.first.locator(".why")).to_have_text(
        "because you rated Star Wars (1977) 5★ (349 who liked it also liked this)"
    )
    expect(page.locator("#rated")).to_contain_text("Star Wars (1977) — 5★")
    expect(page.locator("#recs-status")).to_contain_text("10 recommendations from 1 rating(s)")
    assert "Star Wars (1977)" not in recs.all_inner_texts()[0].split("\n")[0]
    # a second rating updates the list
    page.get_by_label("Search movies by title").fill("toy story")
    page.get_by_role("button", name="Search").click()
    page.locator('#search-results li[data-movie-id="1"]').get_by_label("4 stars").check(force=True)
    expect(page.locator("#recs-status")).to_contain_text("from 2 rating(s)")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-rate.png"), full_page=True)


def test_existing_user_history_and_recommendations(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Existing user").click()
    page.get_by_label("MovieLens user id").fill("1")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#user-status")).to_have_text("User 1 rated 272 movies (best 30 shown).")
    expect(page.locator("#user-history li")).to_have_count(30)
    expect(page.locator("#user-recs li")).to_have_count(10)
    expect(page.locator("#user-recs-source")).to_have_text("From stored run 1 (test-item-cosine).")
    page.get_by_label("MovieLens user id").fill("9999")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#user-status")).to_have_text("unknown user id: 9999")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-user.png"), full_page=True)


def test_models_view_shows_leaderboard_and_plots(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Models").click()
    expect(page.locator("#health")).to_contain_text("test-item-cosine")
    expect(page.locator("#leaderboard tbody tr")).to_have_count(2)
    expect(page.locator("#leaderboard tbody")).to_contain_text("popularity")
    expect(page.locator("#leaderboard thead")).to_contain_text("NDCG@10")
    expect(page.locator("#leaderboard thead")).not_to_contain_text("_std")
    expect(page.locator("#runs tbody tr")).to_have_count(1)
    plots = page.locator("#plots img")
    expect(plots).to_have_count(3)
    expect(plots.first).to_have_attribute("src", "/reports/ml100k-u1/accuracy_vs_time.png")
    plots.first.scroll_into_view_if_needed()
    assert plots.first.evaluate("img => img.complete && img.naturalWidth > 100")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-models.png"), full_page=True)
