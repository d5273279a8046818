"""The public demo in a real browser: `streamlit run dashboard/app.py` with
TRANSFER_LENS_PUBLIC=1 on the committed bundle (demo/fashion_mnist_10k) opens to a drawn
projection, and a box selection fills the gallery from the bundle's thumbnails. How long the
projection takes to draw is the benchmarks' figure (public section: first drawn projection
per session), not asserted here."""

from __future__ import annotations

import os

import pytest

from tests.support import ROOT
from tests.support.browser import chromium_page, idle, main_text, select_box, shot
from tests.support.streamlit_server import streamlit_server

pytestmark = pytest.mark.browser
# the first trace of the plot with its points laid out (plotly's data and a WebGL canvas)
DRAWN_JS = """() => {
  const plot = document.querySelector('.js-plotly-plot');
  return !!plot && !!plot._fullData && plot._fullData.some(t => t.x && t.x.length > 0)
         && !!plot.querySelector('canvas');
}"""


@pytest.fixture
def public_server(tmp_path):
    if not (ROOT / "demo" / "fashion_mnist_10k" / "manifest.json").exists():
        pytest.skip("the committed demo bundle is missing")
    env = {**os.environ, "TRANSFER_LENS_PUBLIC": "1",
           "TRANSFER_LENS_CACHE": str(tmp_path / "cache"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    for name in ("TRANSFER_LENS_DATASET", "TRANSFER_LENS_BUNDLES", "TRANSFER_LENS_BACKBONE"):
        env.pop(name, None)
    with streamlit_server(script=ROOT / "dashboard" / "app.py", env=env,
                          log_path=tmp_path / "streamlit.log") as (url, _):
        yield url


def test_public_demo_opens_to_a_drawn_projection(public_server) -> None:
    with chromium_page(public_server) as page:
        page.wait_for_function(DRAWN_JS, timeout=60_000)
        idle(page)
        text = main_text(page)
        assert "fashion_mnist_10k (published)" in text
        assert "10,000 images" in text and "(precomputed)" in text
        sidebar = page.locator("[data-testid='stSidebar']").inner_text()
        assert "Clear cache" not in sidebar and "folder on this computer" not in sidebar
        shot(page, "public_1_open")
        count = select_box(page, (0.3, 0.3), (0.5, 0.55))
        page.wait_for_function(
            "() => document.querySelectorAll(\"[data-testid='stImage'] img\").length >= "
            f"{min(count, 40) + 9}")
        shot(page, "public_2_selection")
