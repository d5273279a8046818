"""A gallery of long file names in Chromium at 1,280 px (issue 28 item 9): the icon buttons
under the thumbnails stay in one line, and no caption breaks a name mid-word."""

from __future__ import annotations

import pytest

from tests.support.browser import ARTIFACTS, app_server, chromium_page, idle, select_box
from tests.support.data import digit_pngs

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# per gallery row: the top of each neighbours button, and each caption's line-breaking style
ROWS = """() => Array.from(document.querySelectorAll('[data-testid="stHorizontalBlock"]'),
    row => [row.querySelectorAll(':scope > [data-testid="stColumn"]').length,
            Array.from(row.querySelectorAll('[class*="st-key-selection_gallery_nb_"]'),
                       b => Math.round(b.getBoundingClientRect().top))])
    .filter(([columns, tops]) => tops.length > 1 && tops.length === columns)
    .map(([columns, tops]) => tops)"""
BREAKS = """() => Array.from(document.querySelectorAll('[data-testid="stImageCaption"] p'),
    p => getComputedStyle(p).wordBreak + ' ' + getComputedStyle(p).overflowWrap)"""


def test_gallery_of_long_file_names_at_1280_px(tmp_path) -> None:
    folder = tmp_path / "garden"
    for i, (name, data) in enumerate(digit_pngs(per_class=12).items()):
        kind = name.split("/")[0]  # every third name short: rows mix one- and three-liners
        file = name if i % 3 == 0 else f"{kind}/photo_from_the_garden_summer_{i:04d}.png"
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        (folder / file).write_bytes(data)
    with app_server(tmp_path, str(folder)) as url, \
            chromium_page(url, width=1280, height=900) as page:
        page.wait_for_selector(".js-plotly-plot .nsewdrag", timeout=180_000)
        idle(page)
        assert select_box(page, (0.02, 0.02), (0.98, 0.98)) == 36
        page.wait_for_selector('[class*="st-key-selection_gallery_nb_"]')
        idle(page)
        page.get_by_text("Class mix").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "gallery_1280.png"))
        rows = page.evaluate(ROWS)
        assert len(rows) >= 3 and all(len(set(tops)) == 1 for tops in rows), rows
        assert set(page.evaluate(BREAKS)) == {"normal normal"}  # between words only
