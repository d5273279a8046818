"""Error slices in a real browser (issue 30): open the view, select the top slice and see it
on the map, score a box drawn on the map, look at the slice's images with their class
activation maps. Screenshots go to test-artifacts/ for a human to look at."""

from __future__ import annotations

import re

import pytest

from tests.support.browser import (ARTIFACTS, app_server, chromium_page, drag_box, idle,
                                   shot, wait_for_text)

pytestmark = pytest.mark.browser


def test_error_slices_in_chromium(tmp_path) -> None:
    with app_server(tmp_path, "digits") as url, chromium_page(f"{url}/slices?ds=digits") as page:
        wait_for_text(page, "Train a head first: error slices", timeout=180)
        # a cross-fitted head judges every image (Data quality makes one, and it is active)
        page.goto(f"{url}/quality?ds=digits")
        page.get_by_role("button", name=re.compile("Check data quality")).click()
        page.wait_for_selector("text=/suspected label errors/")
        idle(page)
        page.goto(f"{url}/slices?ds=digits")
        page.wait_for_selector(".js-plotly-plot .legendtext", timeout=180_000)  # the map
        idle(page)
        assert int(wait_for_text(page, r"(\d+) error slices? among").group(1)) >= 1

        # the top slice: highlighted on the map, its accuracy beside the rest's
        page.get_by_role("radio", name="Slice #1", exact=True).click()
        idle(page)
        wait_for_text(page, r"Slice #1 · \d+ images, \d+ wrong")
        page.wait_for_selector(".js-plotly-plot .legendtext >> text=/slice #1, wrong/")
        wait_for_text(page, "Accuracy elsewhere")
        shot(page, "slices_1_top_slice")

        # a box on the map is scored as a slice
        page.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
        drag_box(page, (0.3, 0.3), (0.6, 0.65))
        idle(page)
        size = int(wait_for_text(page, r"Your selection · (\d+) images").group(1))
        assert size > 0
        page.wait_for_selector(".js-plotly-plot .legendtext >> text=/your selection/")
        # in the link as the box itself (every image is evaluated and drawn here, so it
        # selects the same ones on the whole map), with the group shown
        page.wait_for_function("() => { const q = new URLSearchParams(location.search); "
                               "return /^box:/.test(q.get('sel') || '') "
                               "&& q.get('slice') === 'selection'; }")
        shot(page, "slices_2_selection")

        # back to the top slice: its images with their class activation maps
        page.get_by_role("radio", name="Slice #1", exact=True).click()
        idle(page)
        size = int(wait_for_text(page, r"Slice #1: (\d+) images").group(1))
        page.get_by_text("Class activation maps", exact=True).first.click()
        wait_for_text(page, "Maps of the predicted class")
        # one page of the gallery (24), once its maps are computed
        page.wait_for_function(
            "n => Array.from(document.querySelectorAll(\"[data-testid='stImage'] img\"))"
            ".filter(img => img.complete && img.naturalWidth).length >= n", arg=min(size, 24))
        idle(page)
        heat = page.evaluate(_REDDEST_PIXEL)  # blended maps colour the grey digits
        assert heat > 60, heat
        shot(page, "slices_3_cam_gallery")
        assert (ARTIFACTS / "slices_3_cam_gallery.png").exists()


# the largest red-minus-blue of any pixel of the gallery's images: a grey digit has 0,
# a heat map's red and yellow far more
_REDDEST_PIXEL = """() => {
  let best = 0;
  for (const img of document.querySelectorAll("[data-testid='stImage'] img")) {
    if (!img.complete || !img.naturalWidth) continue;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) best = Math.max(best, data[i] - data[i + 2]);
  }
  return best;
}"""
