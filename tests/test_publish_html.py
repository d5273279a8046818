"""The static HTML share in headless Chromium: opened from a file, no server, no network.

Publishes digits through the tiny test backbone with --html, checks the chart is drawn,
box-selects by dragging and checks the gallery shows exactly the points inside the box
(computed in the page from the embedded coordinates), switches projection, and saves a
screenshot to test-artifacts/ (git-ignored) for a human to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import ARTIFACTS, chromium_page, drag_box
from tests.support.publish import LIMIT, publish

pytestmark = pytest.mark.browser

INSIDE_BOX = """() => {
  const r = window.lastSelection.range, xy = coords[select.value], inside = [];
  const [x0, x1] = [Math.min(...r.x), Math.max(...r.x)], [y0, y1] = [Math.min(...r.y), Math.max(...r.y)];
  for (let i = 0; i < D.n; i++) {
    const x = xy[2 * i], y = xy[2 * i + 1];
    if (x >= x0 && x <= x1 && y >= y0 && y <= y1) inside.push(i);
  }
  return inside;
}"""


@pytest.fixture
def share(tmp_path, capsys, tiny_backbone) -> Path:
    page = tmp_path / "share.html"
    publish(capsys, out=tmp_path / "demo" / "digits", cache=tmp_path / "cache",
            backbone=tiny_backbone, extra=("--html", str(page)))
    return page


def test_share_in_chromium(share) -> None:
    fetched, errors = [], []

    def listen(page) -> None:
        page.on("request", lambda request: fetched.append(request.url))
        page.on("pageerror", lambda error: errors.append(str(error)))

    with chromium_page(share.as_uri(), width=1280, on_page=listen) as page:
        page.wait_for_selector(".js-plotly-plot .nsewdrag")
        drawn = page.evaluate("() => document.getElementById('plot').data"
                              ".reduce((sum, trace) => sum + trace.x.length, 0)")
        assert drawn == LIMIT
        assert page.locator(".legend .traces").count() == 10  # one legend entry per class

        drag_box(page, (0.2, 0.2), (0.6, 0.65))
        page.wait_for_function("() => window.lastSelection && window.lastSelection.range")
        inside = page.evaluate(INSIDE_BOX)
        assert 0 < len(inside) < LIMIT
        shown = page.eval_on_selector_all("#gallery figure",
                                          "figures => figures.map(f => Number(f.dataset.index))")
        assert sorted(shown) == inside
        count = page.inner_text("#count")
        assert count.startswith(f"{len(inside)} image")
        captions = page.eval_on_selector_all("#gallery figcaption", "cs => cs.map(c => c.textContent)")
        classes = page.evaluate("indices => indices.map(i => D.classes[labels[i]])", sorted(shown))
        assert sorted(captions) == sorted(classes)
        page.screenshot(path=str(ARTIFACTS / "share_selection.png"), full_page=True)

        page.select_option("#method", "pca")
        page.wait_for_function("() => document.getElementById('count').textContent"
                               ".startsWith('No images')")
        page.screenshot(path=str(ARTIFACTS / "share_pca.png"))
    assert not errors
    assert all(url.startswith(("file:", "data:")) for url in fetched), fetched
