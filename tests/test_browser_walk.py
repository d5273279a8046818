"""The new user's path in a real browser (issue 28): the app as `make run` opens it (the
offline default dataset, a scratch cache; the tiny test backbone, as the real one takes a
minute and a half to the first chart under load), the first chart, a .zip of digits with
planted label flips uploaded and embedded, Data quality, a confusion cell, a reload, and
the link opened in a new browser context. Each step asserts what the page says, and saves
a screenshot to test-artifacts/walk_*.png."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

import pytest

from tests.support.browser import (ARTIFACTS, app_server, chromium_page, idle, main_text, open_view,
                                   shot, wait_for_text)
from tests.support.data import planted_noise_zip

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# every text the main pane showed (a fast embedding may come and go between two polls)
RECORD_JS = """() => {
  window.__seen = [];
  const main = document.querySelector('[data-testid="stMain"]');
  const keep = () => window.__seen.push(
      [main.innerText, !!main.querySelector('[data-testid="stProgress"]')]);
  window.__observer = new MutationObserver(keep);
  window.__observer.observe(main, {subtree: true, childList: true, characterData: true});
}"""
LEGEND_JS = """() => document.querySelector('.js-plotly-plot')._fullData
    .filter(t => t.showlegend !== false).map(t => t.name)"""
# each suspected label error's row: its image's caption (sample id) and its text
ISSUE_ROWS_JS = """() => Array.from(
    document.querySelectorAll('[data-testid="stMain"] [data-testid="stMarkdownContainer"]'))
  .filter(m => m.innerText.includes('Suggested:'))
  .map(m => {
    let row = m;
    while (row && !row.querySelector('[data-testid="stImageCaption"]')) row = row.parentElement;
    return row && [row.querySelector('[data-testid="stImageCaption"]').innerText, m.innerText];
  })"""
# each image caption's line-breaking style (between words only)
BREAKS_JS = """() => Array.from(document.querySelectorAll('[data-testid="stImageCaption"] p'),
    p => getComputedStyle(p).wordBreak + ' ' + getComputedStyle(p).overflowWrap)"""
SEEN_JS = "() => { window.__observer.disconnect(); return window.__seen; }"
# the confusion chart's cells: [true, predicted, count] (the click layer's customdata)
CELLS_JS = """() => document.querySelector('.js-plotly-plot')._fullData
    .find(t => t.customdata).customdata.map(c => c.slice(0, 3).map(Number))"""


def step(page, name: str, started: float) -> None:
    """The step's screenshot, and when it was reached (seconds since `started`)."""
    shot(page, name)
    print(f"{name}: {time.monotonic() - started:.0f} s")


def upload(page, archive) -> None:
    sidebar = page.locator("[data-testid='stSidebar']")
    if "noisy.zip" not in sidebar.inner_text():
        sidebar.locator("[data-testid='stSelectbox']").first.click()
        page.get_by_role("option", name="Upload a .zip of class folders…").click()
        idle(page)
    sidebar.locator("input[type='file']").set_input_files(str(archive))


def test_new_user_walk(tmp_path) -> None:
    started = time.monotonic()
    archive = tmp_path / "noisy.zip"
    moved = planted_noise_zip(archive)  # member path -> its true class
    planted = {member.removeprefix("noisy/"): true for member, true in moved.items()}
    with app_server(tmp_path, None) as url, chromium_page(url) as page:
        # 1. the first chart: the default dataset's projection, its caption says what it is
        page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=180_000)
        idle(page)
        text = main_text(page)
        assert "fashion_mnist · 10,000 of 70,000 images · 10 classes" in text, text
        assert re.search(r"PCA of 10,000 points · explains \d+% of the variance", text), text
        assert "Select points on the plot" in text
        step(page, "walk_1_first_chart", started)

        # 2. the upload takes over the main pane at once, with its progress
        page.evaluate(RECORD_JS)
        upload(page, archive)
        # a screenshot of the take-over if it lasts until one is taken (90 tiny images can
        # embed between two polls; the record above asserts it either way)
        while not re.search(r"noisy · 90 images · 3 classes", text := main_text(page)):
            if "is being embedded" in text:
                page.screenshot(path=str(ARTIFACTS / "walk_2_embedding.png"))
                break
            page.wait_for_timeout(100)
        wait_for_text(page, r"noisy · 90 images · 3 classes · tiny_test_cnn at 32 px")
        page.wait_for_selector(".js-plotly-plot .nsewdrag")
        idle(page)
        seen = page.evaluate(SEEN_JS)
        taking_over = [progress for text, progress in seen
                       if "noisy is being embedded (progress below); fashion_mnist is still "
                          "open" in text and "Embedding the new dataset: noisy · 90 images"
                          in text]
        assert any(taking_over), "the upload did not take over the main pane with progress"
        text = main_text(page)
        assert re.search(r"PCA of 90 points", text), text
        assert page.evaluate(LEGEND_JS) == ["3", "5", "8"]
        step(page, "walk_2_uploaded", started)

        # 3. Data quality: the top suspected label errors are planted flips, and each
        # suggests the image's true class
        open_view(page, "Data quality")
        wait_for_text(page, "never saw the image")
        page.locator(".st-key-find_issues button").click()
        found = int(wait_for_text(page, r"(\d+) suspected label errors among 90 images",
                                  timeout=180).group(1))
        assert found >= 8, found  # a full first page
        idle(page)
        page.wait_for_function(f"() => ({ISSUE_ROWS_JS})().filter(Boolean).length === 8")
        rows = page.evaluate(ISSUE_ROWS_JS)  # the first page, most suspicious first
        assert len(rows) == 8, rows
        top = {}
        for sample_id, text in rows:
            given, suggested = re.search(r"Given: (\S+)\s+Suggested: (\S+)", text).groups()
            top[sample_id] = suggested
            assert sample_id.split("/")[1] == given, (sample_id, text)  # its folder: the label
        hits = {s for s, suggested in top.items() if planted.get(s) == suggested}
        assert len(hits) >= 6, f"planted with the right suggestion: {hits} of {top}"
        assert "Head: logreg" in page.locator("[data-testid='stSidebar']").inner_text()
        step(page, "walk_3_data_quality", started)

        # 4. Confusion: a click on a cell shows that cell's images by sample id
        open_view(page, "Confusion")
        page.wait_for_selector(".js-plotly-plot .nsewdrag")
        idle(page)
        text = main_text(page)
        n_test = int(re.search(r"(\d+) test images, \d+ on the diagonal", text).group(1))
        assert n_test == 18, text  # 6 clean test images per class
        cells = page.evaluate(CELLS_JS)  # [true, predicted, count]
        shown = re.search(r"of class “(\d)” predicted as “(\d)”", text).groups()
        names = ["3", "5", "8"]
        # the largest off-diagonal cell that is not the one shown at first
        true, predicted, count = max(
            (c for c in cells if c[0] != c[1] and c[2] > 0
             and (names[c[0]], names[c[1]]) != shown), key=lambda c: c[2])
        heading = (f"{count} image{'s' if count != 1 else ''} of class “{names[true]}” "
                   f"predicted as “{names[predicted]}”")
        area = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        for _ in range(4):  # under load a click before plotly binds its handlers is lost
            page.mouse.click(area["x"] + area["width"] * (predicted + 0.5) / 3,
                             area["y"] + area["height"] * (true + 0.5) / 3)
            idle(page)
            if heading in main_text(page):
                break
        wait_for_text(page, re.escape(heading), timeout=10)
        captions = page.locator("[data-testid='stImageCaption']").all_inner_texts()
        assert len(captions) == count, captions
        assert all(re.fullmatch(rf"test/{names[true]}/{names[true]}_\d\d\.png · \d+%", c)
                   for c in captions), captions
        assert "its sample id and the head's confidence" in main_text(page)
        assert set(page.evaluate(BREAKS_JS)) == {"normal normal"}  # names are not cut
        step(page, "walk_4_confusion_cell", started)
        link = page.url
        head = parse_qs(urlparse(link).query)["h"][0]
        assert "/confusion?" in link and "ds=upload" in link, link

        # 5. a reload is a new session: the upload is not there, and the page says so on
        # the same view, with nothing else embedding; the .zip again brings the same state
        page.reload()
        wait_for_text(page, "This link was made on an uploaded dataset")
        idle(page)
        text = main_text(page)
        assert "fashion_mnist" not in text and "Computing transfer values" not in text, text
        assert "/confusion?" in page.url
        step(page, "walk_5_reload", started)
        upload(page, archive)
        wait_for_text(page, r"18 test images, \d+ on the diagonal", timeout=120)
        idle(page)
        text = main_text(page)
        assert "noisy · 90 images · 3 classes" in text, text
        assert "/confusion?" in page.url
        assert parse_qs(urlparse(page.url).query)["h"][0] == head  # the same head
        sidebar = page.locator("[data-testid='stSidebar']").inner_text()
        assert "Ignored the link" not in sidebar, sidebar  # its "upload the .zip" is done
        step(page, "walk_5_reload_uploaded_again", started)

        # 6. the link in a new browser context (another visitor): it says the dataset was
        # an upload, private to its session, and shows no other dataset instead
        with page.context.browser.new_context(viewport={"width": 1440, "height": 1000}) \
                as other:
            stranger = other.new_page()
            stranger.goto(link)
            wait_for_text(stranger, "This link was made on an uploaded dataset")
            idle(stranger)
            text = main_text(stranger)
            assert "private to the session that uploaded it" in text, text
            assert "fashion_mnist" not in text and "noisy" not in text, text
            assert "Computing transfer values" not in text, text
            stranger.wait_for_function("() => document.querySelector("
                                       "'[data-testid=\"stSidebar\"]').innerText"
                                       ".includes(\"Ignored the link's ds=upload\")")
            stranger.locator("[data-testid='stSidebar'] input[type='file']").wait_for(
                state="attached")  # the uploader waits for the .zip
            step(stranger, "walk_6_link_elsewhere", started)
