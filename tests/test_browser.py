"""The dashboard in a real browser: `streamlit run` on a free port, driven by headless Chromium.

Runs last (see conftest.py). Box-selects points by dragging on the WebGL plot and checks that
the gallery shows the selected images, then visits every view. A screenshot of each view
goes to test-artifacts/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

import re

import pytest

from tests.support.browser import (ARTIFACTS, RUNS, app_server, chromium_page, drag_box,
                                   idle, main_text, open_view, select_box, shot,
                                   wait_for_text)

pytestmark = pytest.mark.browser


@pytest.fixture
def server(tmp_path):
    """The app on digits."""
    with app_server(tmp_path, "digits") as url:
        yield url


@pytest.fixture
def page(server):
    with chromium_page(server) as page:
        yield page


def assert_menu_fits(page, *, numeric_targets: bool) -> None:
    """The menu at the top lists the views this dataset offers: the row's views, then one
    drop-down per section, all on one row at 1,280 px (none folded into an overflow menu);
    a drop-down lists its views."""
    from dashboard.pages import menu, offered

    layout = menu(offered(numeric_targets=numeric_targets))
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_timeout(800)
    links = page.locator("[data-testid='stTopNavLink']:visible")
    sections = page.locator("[data-testid='stTopNavSection']")
    titles = [text.split("\n")[-1].strip() for text in links.all_inner_texts()]  # after the icon
    assert titles == [view.title for view in layout[""]], titles
    assert [text.strip() for text in sections.all_inner_texts()] == \
        [name for name in layout if name], sections.all_inner_texts()
    boxes = [item.bounding_box() for item in (*links.all(), *sections.all())]
    assert all(box and box["height"] > 0 and box["x"] + box["width"] <= 1280
               for box in boxes), boxes  # an overflowing link is folded away: no height
    assert len({round(box["y"]) for box in boxes}) == 1, boxes
    name = "targets" if numeric_targets else "classes"
    page.screenshot(path=str(ARTIFACTS / f"menu_1280_{name}.png"))
    for section, views in layout.items():
        if section:
            sections.filter(has_text=section).click()
            listed = page.locator("[data-testid='stTopNavDropdownLink']:visible")
            listed.first.wait_for()
            assert [text.split("\n")[-1].strip() for text in listed.all_inner_texts()] == \
                [view.title for view in views]
            page.screenshot(path=str(ARTIFACTS / f"menu_1280_{name}_{section}.png"))
            sections.filter(has_text=section).click()  # closes it
            listed.first.wait_for(state="hidden")
    page.set_viewport_size({"width": 1440, "height": 1000})
    page.wait_for_timeout(300)


def head_in_url(page) -> str:
    """The active head's key, from the page's link (query parameter h)."""
    from urllib.parse import parse_qs, urlparse

    page.wait_for_function("() => new URLSearchParams(location.search).has('h')")
    return parse_qs(urlparse(page.url).query)["h"][0]


# a point outside the map's selection (inside, plotly's selection outline takes the mouse)
POINT_XY = """() => { const gd = document.querySelector('.js-plotly-plot');
  const s = (gd.layout.selections || [])[0]; const r = gd.getBoundingClientRect();
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  for (const t of gd._fullData) { for (let i = 0; t.x && i < t.x.length; i++) {
    const x = t.x[i], y = t.y[i];
    if (!s || x < Math.min(s.x0, s.x1) - 500 || x > Math.max(s.x0, s.x1) + 500
        || y < Math.min(s.y0, s.y1) - 500 || y > Math.max(s.y0, s.y1) + 500)
      return [r.left + xa._offset + xa.l2p(x), r.top + ya._offset + ya.l2p(y)]; } } }"""


def opened_from_link(page, name: str, forms: str, count: int):
    """A new page (a new session) on `page`'s link, once the link's `name=` value is of one
    of `forms` ("box", "box|ids"), showing the same selection of `count` images."""
    page.wait_for_function(
        "([name, forms]) => new RegExp('^(' + forms + '):')"
        ".test(new URLSearchParams(location.search).get(name) || '')", arg=[name, forms])
    linked = page.context.browser.new_page(viewport={"width": 1440, "height": 1000})
    linked.goto(page.url)
    linked.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=180_000)
    idle(linked)
    shown = wait_for_text(linked, r"Selection: ([\d,]+) image").group(1)
    assert int(shown.replace(",", "")) == count
    return linked


def assert_selection_link_opens(page, count: int) -> None:
    """Issue 28: the box just drawn is in the link; the link in a new session shows the
    same selection, drawn on the map, and the map's hover names a point by its sample id."""
    linked = opened_from_link(page, "sel", "box", count)
    assert linked.evaluate("() => document.querySelector('.js-plotly-plot')"
                           ".layout.selections.length") == 1
    linked.screenshot(path=str(ARTIFACTS / "1_projections_from_link.png"))
    x, y = linked.evaluate(POINT_XY)
    linked.mouse.move(x - 30, y - 30)  # plotly hovers on a move over the plot, not a jump
    linked.mouse.move(x, y, steps=5)
    hover = linked.locator(".hoverlayer .hovertext").first
    hover.wait_for(timeout=10_000)
    text = hover.text_content()  # an SVG element: no inner_text
    assert "digits/" in text and "#" not in text, text
    linked.close()


def assert_feature_space_link_opens(page) -> None:
    """Issue 28: the sidebar's feature space is in the link (`space=fine_tuned`, beside the
    fine-tuning's `ft=` and `compare=true`); a new session on it shows every view on the
    fine-tuned backbone, the maps before and after side by side, and no note."""
    page.wait_for_function(
        "() => new URLSearchParams(location.search).get('space') === 'fine_tuned'")
    linked = page.context.browser.new_page(viewport={"width": 1440, "height": 1000})
    linked.goto(page.url)
    wait_for_text(linked, "fine-tuned at 32 px", timeout=180)
    linked.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2",
                             timeout=120_000)
    idle(linked)
    assert linked.get_by_text("After fine-tuning", exact=True).count() == 1
    sidebar = linked.locator("[data-testid='stSidebar']").inner_text()
    assert "Feature space" in sidebar and "Ignored the link" not in sidebar, sidebar
    assert linked.locator("[data-testid='stSidebar']").get_by_role(
        "radio", name="Fine-tuned").is_checked()
    shot(linked, "9_before_after_from_link")
    linked.close()


def test_dashboard_in_chromium(page, tmp_path) -> None:
    runs = tmp_path / RUNS  # each view switch below is checked to be one script run
    # first visit: transfer values are computed, then the projection appears
    page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=180_000)
    idle(page)
    wait_for_text(page, "Select points on the plot")
    shot(page, "1_projections")
    assert_menu_fits(page, numeric_targets=False)

    # box-select the middle of the plot by dragging (the default drag mode is "select")
    count = select_box(page, (0.25, 0.25), (0.55, 0.6))
    # the first page of the selection (up to 40) plus the query image and its 8 neighbours
    expected = min(count, 40) + 9
    page.wait_for_function(
        f"() => document.querySelectorAll(\"[data-testid='stImage'] img\").length >= {expected}")
    gallery = page.locator("[data-testid='stImage'] img")
    assert gallery.count() == expected
    captions = page.locator("[data-testid='stImageCaption']").all_inner_texts()
    assert sum(caption.startswith("digits/") for caption in captions) == expected  # sample ids
    page.wait_for_selector("text=Class mix")
    page.wait_for_selector("text=/\\d of 8 neighbours share its label/")
    shot(page, "1_projections_selection")
    assert_selection_link_opens(page, count)

    open_view(page, "Train a head", runs)
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_selector("text=Test accuracy")
    idle(page)
    wait_for_text(page, "Per class")
    wait_for_text(page, r"Heads on these transfer values \(1\)")
    shot(page, "2_train")
    # a second head, more regularised: both listed, the new one active, the two compared
    c_input = page.get_by_role("spinbutton", name="C (inverse regularisation)")
    c_input.fill("0.0005")
    c_input.press("Tab")
    page.get_by_role("button", name="Train", exact=True).click()
    page.wait_for_selector("text=Heads on these transfer values (2)")
    page.wait_for_selector("text=Compare two heads")
    idle(page)
    # the link names the new head a run after the page shows it (so on the commit before
    # the menu too): wait for that run
    page.wait_for_function(
        "() => { const h = new URLSearchParams(location.search).get('h');"
        " const row = h && document.querySelector('.st-key-head_row_' + h);"
        " return !!row && row.innerText.includes('active'); }", timeout=60_000)
    active = head_in_url(page)
    assert "active" in page.locator(f".st-key-head_row_{active}").inner_text()
    shot(page, "2_train_heads")
    page.locator(".st-key-compare_confusion").scroll_into_view_if_needed()
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "2_train_compare.png"))  # the comparison, in view

    open_view(page, "Confusion", runs)
    page.wait_for_selector(".js-plotly-plot")
    wait_for_text(page, r"\d+ test images, \d+ on the diagonal")
    # clicking a cell (true 1, predicted 1) shows that cell's images; under load a click
    # before plotly binds its handlers is lost, so it is clicked again until it shows
    idle(page)
    cell_images = page.locator("text=/images of class “1” correctly classified/")
    for _ in range(4):
        cells = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        page.mouse.click(cells["x"] + cells["width"] * 0.15,
                         cells["y"] + cells["height"] * 0.15)
        try:
            cell_images.wait_for(timeout=30_000)
            break
        except Exception:  # noqa: BLE001 -- playwright's TimeoutError: click again
            idle(page)
    cell_images.wait_for(timeout=30_000)
    idle(page)
    shot(page, "3_confusion")

    open_view(page, "Failures", runs)
    page.wait_for_selector("text=/misclassified/")
    shot(page, "4_failures")

    open_view(page, "Data quality", runs)
    page.get_by_role("button", name=re.compile("Check data quality")).click()
    page.wait_for_selector("text=/suspected label errors/")
    idle(page)
    wait_for_text(page, "Flagged by ")
    shot(page, "5_data_quality")
    for name, wait, suffix in (("Outliers", "Outlier score", "outliers"),
                               ("Near-duplicates and leakage", "Duplicate groups", "duplicates"),
                               ("Class balance", "Per-class quality", "balance"),
                               ("Export flagged", "flagged items", "export")):
        page.locator("[data-testid='stMain'] button", has_text=name).first.click()
        page.wait_for_selector(f"text=/{wait}/")
        idle(page)
        shot(page, f"5_data_quality_{suffix}")

    open_view(page, "Inspect", runs)
    page.wait_for_selector("text=/transfer values as a/")
    wait_for_text(page, "Prediction")
    shot(page, "6_inspect")

    open_view(page, "Export", runs)
    page.get_by_role("button", name="Create transfer values").click()
    page.wait_for_selector("text=/Download .*\\.npy/")
    shot(page, "7_export")

    # back on the projections, the selection is still there
    open_view(page, "Projections", runs)
    page.wait_for_selector(f"text=Selection: {count:,} image")

    # a reload (a new session) shows the same view with the same head active
    open_view(page, "Train a head", runs)
    assert head_in_url(page) == active
    page.reload()
    # (three by now: "Data quality" cross-fitted one)
    page.wait_for_selector("text=Heads on these transfer values (3)", timeout=180_000)
    idle(page)
    assert "/train" in page.url and head_in_url(page) == active
    assert "active" in page.locator(f".st-key-head_row_{active}").inner_text()
    # the app's own link warns of nothing (it once kept n=10,000 for 1,797 digits)
    assert "Ignored the link" not in page.locator("[data-testid='stSidebar']").inner_text()
    shot(page, "2_train_after_reload")

    # fine-tune the backbone, then every view on it and before/after side by side
    open_view(page, "Fine-tune")
    page.get_by_text("Random left-right flip", exact=True).click()  # digits are not mirror-symmetric
    page.get_by_role("button", name="Start fine-tuning").click()
    page.wait_for_selector("text=Fine-tuned backbone", timeout=300_000)
    idle(page)
    wait_for_text(page, "kNN vote after")
    shot(page, "8_finetune")
    page.get_by_role("button", name="Show every view on the fine-tuned backbone").click()
    idle(page)
    wait_for_text(page, "fine-tuned at 32 px")
    open_view(page, "Projections")
    page.get_by_text("Before and after fine-tuning, side by side").click()
    # both charts drawn ("text=After fine-tuning" alone also matches the toggle's own label)
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 2",
                           timeout=120_000)
    idle(page)
    assert page.locator(".js-plotly-plot").count() == 2
    assert page.get_by_text("After fine-tuning", exact=True).count() == 1
    shot(page, "9_before_after")
    assert_feature_space_link_opens(page)
    # back to the original backbone, whose cross-fitted head Data quality cached above: the
    # link below opens there (on the fine-tuned backbone it would have to cross-fit anew)
    page.locator("[data-testid='stSidebar']").get_by_role("radio", name="Original").click()
    page.wait_for_function("() => !new URLSearchParams(location.search).has('space')")
    idle(page)
    assert "fine-tuned at 32 px" not in main_text(page)

    # a link to the old Label issues view opens Data quality, under its own URL now (a new
    # session: the cross-fitted head comes from the cache, so the label errors show at once)
    page.goto(re.sub(r"/[^/?]*(\?.*)?$", r"/label-issues\1", page.url))
    page.wait_for_selector("text=/suspected label errors/", timeout=180_000)
    idle(page)
    assert re.search(r"/quality\?.*ds=digits", page.url), page.url
    # a link to Regression, which digits (no numeric target) does not offer: Projections
    page.goto(re.sub(r"/[^/?]*(\?.*)?$", r"/regression\1", page.url))
    wait_for_text(page, "which needs a numeric target; digits has none")
    idle(page)
    assert re.search(r"/\?.*ds=digits", page.url), page.url
    page.wait_for_selector(".js-plotly-plot .nsewdrag")
    shot(page, "9_link_to_a_view_not_offered")

    # other settings are embedded in the background: the views keep the previous values
    # (the header says so, the sidebar shows the job), then switch by themselves
    open_view(page, "Projections")
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']",
                 has_text="Backbone").click()
    page.get_by_role("option", name=re.compile(r"^efficientnet_lite0")).click()
    page.wait_for_selector("text=/Showing the previous transfer values/", timeout=60_000)
    assert "tiny_test_cnn" in main_text(page)  # what the views show meanwhile
    page.wait_for_selector("[data-testid='stSidebar'] >> text=Embedding in the background")
    shot(page, "10_background_extraction")
    page.wait_for_selector("text=/efficientnet_lite0.* at 32 px → 1,280-d/", timeout=300_000)
    idle(page)
    assert "Showing the previous transfer values" not in main_text(page)
    page.wait_for_selector(".js-plotly-plot .nsewdrag")

@pytest.fixture
def regression_server(tmp_path):
    """The app on a folder of digit PNGs with a targets.csv (`ink`, `width`), tiny backbone."""
    from tests.support.data import write_folder

    folder = write_folder(tmp_path / "inky", per_class=40)
    with app_server(tmp_path, str(folder)) as url:
        yield url


def test_regression_walk_in_chromium(regression_server) -> None:
    """Pick the target, colour by it, train ridge, open predicted-vs-actual, box-select the
    over-estimated corner and see those images, worst first."""
    with chromium_page(regression_server) as page:
        page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=180_000)
        idle(page)
        page.get_by_role("combobox", name=re.compile("Target")).click(timeout=10_000)
        page.get_by_role("option", name="ink (a number)").click()
        idle(page)
        wait_for_text(page, r"target ink")
        assert_menu_fits(page, numeric_targets=True)
        page.wait_for_function("() => new URLSearchParams(location.search).get('t') === 'ink'")
        page.locator("[data-testid='stMain'] button", has_text="target").first.click()
        idle(page)
        assert page.locator(".js-plotly-plot .colorbar").count() == 1  # a colour bar
        shot(page, "r1_projection_by_target")

        open_view(page, "Train a head")
        page.get_by_role("button", name="Train", exact=True).click()
        page.wait_for_selector("text=Heads on this target (1)")
        idle(page)
        r2 = float(wait_for_text(page, r"R² \(test\)\s*([-\d.]+)").group(1))
        assert r2 > 0.3
        shot(page, "r2_train_ridge")

        open_view(page, "Regression")
        page.wait_for_selector(".js-plotly-plot .nsewdrag")
        idle(page)
        shot(page, "r3_regression")
        # the corner below the identity line: predicted well under actual (the worst
        # under-estimates; the line crosses this box's top-left, outside it)
        drag_box(page, (0.4, 0.7), (0.75, 0.98))
        idle(page)
        count = int(wait_for_text(page, r"Selection: ([\d,]+) image").group(1))
        assert count > 0
        captions = page.locator("[data-testid='stImageCaption']").all_inner_texts()
        errors = [float(m.group(1)) for c in captions[:count]
                  if (m := re.search(r"error ([-+][\d.e-]+)", c))]
        assert errors and all(e < 0 for e in errors), captions[:count]
        assert errors == sorted(errors, key=abs, reverse=True)  # worst first
        shot(page, "r4_regression_selection")

        # the selection is in the link (the box on the chart's grid, or the ids when the
        # box would not select exactly these images): a new page opened on it shows them
        linked = opened_from_link(page, "rsel", "box|ids", count)
        assert linked.locator("[data-testid='stImageCaption']").all_inner_texts()[:count] == \
            captions[:count]
        shot(linked, "r5_regression_selection_from_link")
