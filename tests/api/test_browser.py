"""End-to-end: Debian's chromium (driven by Playwright) uses the web page of a real uvicorn.

Searches "star wars", rates it 5 stars, waits for the recommendations to appear with their
explanations, looks up user 1, opens the models view; then every tab at 1280 px and at a
390 px phone width (no horizontal scroll), a phone's view after rating, "more like this",
"show more", and a rated movie the model was not trained on. Screenshots go to
tests/artifacts/ (git-ignored).
Never runs ``playwright install``: it drives /usr/bin/chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import contextlib
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
def browser() -> Iterator:  # type: ignore[type-arg]
    if not CHROMIUM.is_file():
        unavailable(f"{CHROMIUM} not found: install Debian's chromium (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def open_page(browser, url: str, width: int = 1280, height: int = 900) -> Iterator:  # type: ignore[no-untyped-def, type-arg]
    """A fresh page (no ratings yet) at ``url``; fails on any JavaScript error."""
    pg = browser.new_page(viewport={"width": width, "height": height})
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(url + "/")
    try:
        yield pg
    finally:
        pg.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def page(browser, server_url: str) -> Iterator:  # type: ignore[no-untyped-def, type-arg]
    """One page shared by the first three tests, in order (their ratings carry over)."""
    with open_page(browser, server_url) as pg:
        yield pg


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


# ---------------------------------------------------------------------- widths, phone, more
def fits(pg) -> None:  # type: ignore[no-untyped-def]
    """No horizontal scroll: the document is no wider than the viewport."""
    width, inner = pg.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the page is {width} px wide in a {inner} px viewport"


def rate_star_wars(pg) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    pg.get_by_label("Search movies by title").fill("star wars")
    pg.get_by_role("button", name="Search").click()
    pg.locator('#search-results li[data-movie-id="50"]').get_by_label("5 stars").check(force=True)
    expect(pg.locator("#new-recs > li")).to_have_count(10)


@pytest.mark.parametrize("width", [1280, 390])
def test_every_tab_fits_the_width(browser, server_url: str, width: int) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    with open_page(browser, server_url, width, 844 if width < 500 else 900) as pg:
        fits(pg)
        rate_star_wars(pg)
        pg.locator("#new-recs > li").first.get_by_role("button", name="More like this").click()
        expect(pg.locator("#new-recs > li").first.locator(".similar li")).to_have_count(5)
        fits(pg)
        pg.screenshot(path=str(ARTIFACTS / f"web-rate-{width}.png"), full_page=True)
        pg.get_by_role("tab", name="Existing user").click()
        pg.get_by_label("MovieLens user id").fill("1")
        pg.get_by_role("button", name="Show").click()
        expect(pg.locator("#user-recs > li")).to_have_count(10)
        fits(pg)
        pg.screenshot(path=str(ARTIFACTS / f"web-user-{width}.png"), full_page=True)
        pg.get_by_role("tab", name="Models").click()
        expect(pg.locator("#leaderboard tbody tr")).to_have_count(2)
        expect(pg.locator("#health table.params")).to_contain_text("shrink")
        pg.locator("#plots img").first.scroll_into_view_if_needed()
        fits(pg)
        tabs = pg.locator('[role="tab"]')
        tops = {round(tabs.nth(i).bounding_box()["y"]) for i in range(3)}  # type: ignore[index]
        assert len(tops) == 1, "the tabs wrap onto two lines"
        pg.screenshot(path=str(ARTIFACTS / f"web-models-{width}.png"), full_page=True)


def test_phone_shows_recommendations_after_rating(browser, server_url: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    with open_page(browser, server_url, 390, 844) as pg:
        pg.get_by_label("Search movies by title").fill("star")  # 15 results above the list
        pg.get_by_role("button", name="Search").click()
        star_wars = pg.locator('#search-results li[data-movie-id="50"]')
        star_wars.get_by_label("5 stars").check(force=True)
        expect(pg.locator("#new-recs > li")).to_have_count(10)
        expect(pg.locator("#recs")).not_to_be_in_viewport()
        first = pg.locator("#new-recs > li .title").first.inner_text()
        peek = pg.locator("#recs-peek")
        expect(peek).to_be_visible()
        expect(peek).to_contain_text(f"1. {first}")
        expect(peek).to_be_in_viewport()
        pg.screenshot(path=str(ARTIFACTS / "web-phone-after-rating.png"))
        peek.get_by_role("button", name="See all").click()
        expect(pg.locator("#new-recs > li").first).to_be_in_viewport()
        expect(peek).to_be_hidden()  # the list itself is in view now


def test_titles_show_more_and_favicon(browser, server_url: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    with open_page(browser, server_url) as pg:
        pg.get_by_label("Search movies by title").fill("the godfather")
        pg.get_by_role("button", name="Search").click()
        expect(pg.locator('#search-results li[data-movie-id="127"] .title')).to_have_text(
            "The Godfather (1972)"
        )
        pg.get_by_label("Search movies by title").fill("star")
        pg.get_by_role("button", name="Search").click()
        expect(pg.locator("#search-results > li")).to_have_count(15)
        expect(pg.locator("#search-status")).to_have_text("20 movie(s) found, showing 15.")
        pg.get_by_role("button", name="Show more").click()
        expect(pg.locator("#search-results > li")).to_have_count(20)
        expect(pg.locator("#search-status")).to_have_text("20 movie(s) found.")
        expect(pg.get_by_role("button", name="Show more")).to_be_hidden()
        ids = pg.locator("#search-results > li").evaluate_all(
            "items => items.map(li => li.dataset.movieId)"
        )
        assert len(set(ids)) == 20
        icon = pg.evaluate("document.querySelector('link[rel=\"icon\"]').href")
        assert icon.endswith("/static/favicon.svg") and pg.request.get(icon).ok
        assert pg.request.get(server_url + "/favicon.ico").ok


@pytest.fixture(scope="module")
def filtered_url(filtered_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    from movierec.api.app import create_app
    from tests.api.conftest import uvicorn_thread

    app = create_app(home=tmp_path_factory.mktemp("filtered"), model=filtered_model)
    with uvicorn_thread(app) as url:
        yield url


def test_a_movie_the_model_never_saw_never_stops_the_page(browser, filtered_url: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    with open_page(browser, filtered_url) as pg:
        pg.get_by_label("Search movies by title").fill("köldum")
        pg.get_by_role("button", name="Search").click()
        result = pg.locator('#search-results li[data-movie-id="1633"]')
        expect(result.locator(".note")).to_contain_text("Not in the model's training data")
        result.get_by_label("4 stars").check(force=True)
        expect(pg.locator("#new-recs > li")).to_have_count(10)  # popular movies, not an error
        expect(pg.locator("#recs-status")).to_contain_text("popular movies")
        expect(pg.locator("#recs-note")).to_contain_text("Not used: Á köldum klaka")
        rate_star_wars(pg)
        expect(pg.locator("#recs-status")).to_contain_text("from 2 rating(s)")
        expect(pg.locator("#recs-status")).to_contain_text("fold-in")
        expect(pg.locator("#new-recs > li").first.locator(".why")).to_contain_text(
            "Star Wars (1977) 5★"
        )
        expect(pg.locator("#recs-note")).to_contain_text("Á köldum klaka")
        pg.screenshot(path=str(ARTIFACTS / "web-ignored.png"), full_page=True)


def test_a_visitors_ratings_persist_across_a_reload(browser, server_url: str) -> None:  # type: ignore[no-untyped-def]
    """The page creates a user (POST /users), writes each rating (PUT, DELETE) with the
    user's token kept in localStorage; after a reload the ratings and the recommendations
    folded in from them come back from the server."""
    import httpx
    from playwright.sync_api import expect

    with open_page(browser, server_url) as pg:
        pg.get_by_label("Search movies by title").fill("star wars")
        pg.get_by_role("button", name="Search").click()
        pg.locator('#search-results li[data-movie-id="50"]').get_by_label("5 stars").check(
            force=True
        )
        expect(pg.locator("#new-recs li")).to_have_count(10)
        account = pg.evaluate("JSON.parse(localStorage.getItem('movierec.account'))")
        assert isinstance(account["id"], int) and len(account["token"]) == 43
        expect(pg.locator("#account-note")).to_contain_text(f"user {account['id']}")
        first = pg.locator("#new-recs li .title").all_inner_texts()
        stored = httpx.get(f"{server_url}/users/{account['id']}/ratings", timeout=10).json()
        assert [(r["movie"]["id"], r["rating"]) for r in stored["ratings"]] == [(50, 5.0)]
        pg.reload()
        expect(pg.locator("#rated")).to_contain_text("Star Wars (1977) — 5★")
        expect(pg.locator("#new-recs li")).to_have_count(10)
        expect(pg.locator("#recs-status")).to_contain_text("from 1 rating(s)")
        assert pg.locator("#new-recs li .title").all_inner_texts() == first
        pg.get_by_role("button", name="Remove rating of Star Wars (1977)").click()
        expect(pg.locator("#rated li")).to_have_count(0)
        expect(pg.locator("#recs-status")).to_have_text("Rate at least one movie.")
        pg.reload()
        expect(pg.locator("#rated-empty")).to_be_visible()
        gone = httpx.get(f"{server_url}/users/{account['id']}/ratings", timeout=10).json()
        assert gone["n_ratings"] == 0


def test_docs_render_offline(browser, server_url: str) -> None:  # type: ignore[no-untyped-def]
    """/docs draws every operation with the Swagger UI this server serves; any request to
    another host is refused, as on a machine without the internet."""
    from playwright.sync_api import expect

    pg = browser.new_page()
    foreign: list[str] = []

    def only_local(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(server_url):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    pg.route("**/*", only_local)
    try:
        pg.goto(server_url + "/docs")
        expect(pg.locator(".opblock-summary-path").first).to_be_visible()
        paths = pg.locator(".opblock-summary-path").all_inner_texts()
        assert "/users/{user_id}/ratings/{movie_id}" in [p.strip() for p in paths]
        assert len(paths) >= 15
    finally:
        pg.close()
    assert foreign == []
