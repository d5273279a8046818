"""Background work the user can trust (issue 28), driven headless with AppTest on digits
and the tiny backbone: Stop ends the extraction and says where Resume starts."""

from __future__ import annotations

import threading
import time

import numpy as np

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.support.apptest import (TIMEOUT, TRAIN, assert_clean, head_keys, settle,  # noqa: E402
                                   show, texts)

pytestmark = pytest.mark.slow  # the whole app (AppTest)


def hold_extractions(monkeypatch) -> threading.Event:
    """Extractions wait for the returned event before they start (then run as usual)."""
    import core.features.transfer_values as tv_module

    gate, original = threading.Event(), tv_module.compute_transfer_values

    def held(**kwargs):
        gate.wait(TIMEOUT)
        return original(**kwargs)

    monkeypatch.setattr(tv_module, "compute_transfer_values", held)
    return gate


def test_stop_ends_the_extraction_keeps_its_chunks_and_resume_continues(
        app: AppTest, isolated_cache, monkeypatch) -> None:
    """A closed tab still watches the job: Stop must end it all the same, within seconds,
    with the finished chunks on disk, the page saying how far it got, and Resume computing
    only the rest."""
    import core.features.transfer_values as tv_module
    from dashboard.services import extraction

    reached, go, runs = threading.Event(), threading.Event(), []
    original = tv_module.compute_transfer_values

    def slow_compute(**kwargs):  # small chunks; holds after two of them until the test's go
        report = kwargs["progress"]

        def progress(p):
            report(p)
            if p.done >= 600 and not go.is_set():
                reached.set()
                go.wait(TIMEOUT)
            elif go.is_set():
                time.sleep(0.05)  # slow enough that a missed Stop shows

        runs.append(original(**{**kwargs, "chunk_size": 256, "progress": progress}))
        return runs[-1]

    monkeypatch.setattr(tv_module, "compute_transfer_values", slow_compute)
    try:
        app.selectbox(key="image_size").set_value(48).run()
        assert_clean(app)
        (key, job), = extraction._extractions.running()
        job.watch("a-closed-tab")  # never lets go: a tab closed while it waited
        assert reached.wait(TIMEOUT)
        app.button(key="stop_background_extraction").click().run()
    finally:
        go.set()
    assert job.wait(30), "the extraction ran on after Stop"
    assert job.cancelled, job.error
    chunks = sorted((isolated_cache / "transfer_values" / f"{key}.partial").glob("chunk_*"))
    assert len(chunks) >= 2  # 2 × 256 images were done before Stop: kept for Resume
    kept = len(chunks) * 256
    app.run()
    assert_clean(app)
    assert (f"Extraction stopped at {kept:,} of 1,797 images; Resume continues from there"
            in texts(app))
    app.button(key="resume_extraction").click().run()
    settle(app)
    assert "at 48 px → 16-d transfer values" in texts(app)
    assert runs and runs[-1].images_computed == 1797 - kept  # resumed, not redone


def test_a_click_acts_on_the_values_it_was_made_on(app: AppTest, tiny_backbone,
                                                   monkeypatch) -> None:
    """Train while new values embed is refused, naming them; a click from a page drawn
    before they arrived is refused too, naming the values now shown; then it trains."""
    from dashboard.services import extraction

    gate = hold_extractions(monkeypatch)
    try:
        app.selectbox(key="image_size").set_value(48).run()
        show(app, "Train a head")
        app.button(key=TRAIN).click().run()
        assert_clean(app)
        new = f"digits · 1,797 images · {tiny_backbone} at 48 px"
        assert f"Not started: **{new}** are being embedded in the background" in texts(app)
        assert head_keys(app) == []
    finally:
        gate.set()
    for _, job in extraction._extractions.running():
        assert job.wait(TIMEOUT)
    app.button(key=TRAIN).click().run()  # on the page drawn while 32 px was shown
    assert_clean(app)
    assert (f"you clicked on a page that showed digits · 1,797 images · {tiny_backbone} at "
            f"32 px; the views now show **{new}**" in texts(app))
    assert head_keys(app) == []
    app.button(key=TRAIN).click().run()
    assert_clean(app)
    assert len(head_keys(app)) == 1 and "at 48 px" in texts(app)


def test_the_main_pane_says_what_happened_to_a_box_and_an_upload(app: AppTest,
                                                                 monkeypatch) -> None:
    """A box that catches no point says so (it looked like no selection at all); after an
    upload the main pane says at once that the new dataset is being embedded, with its
    progress, instead of silently showing the old one, and offers to keep exploring that."""
    import io
    import zipfile

    from dashboard.state.selection import Selection
    from tests.support.data import digit_pngs

    app.session_state["selection"] = Selection(
        tv_key=app.session_state["tv_key"], indices=np.zeros(0, int),
        region=((50.0, 60.0), (50.0, 60.0)), drawn="box")
    app.run()
    assert_clean(app)
    assert "The box you drew holds no points, so nothing is selected" in texts(app)
    assert "Select points on the plot" not in texts(app)

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in digit_pngs(("3", "8"), per_class=10).items():
            archive.writestr(f"two_digits/{name}", data)
    gate = hold_extractions(monkeypatch)
    try:
        app.selectbox(key="dataset_choice").set_value("__upload__").run()
        app.file_uploader(key="dataset_zip").set_value(("two_digits.zip", buffer.getvalue(),
                                                        "application/zip")).run()
        assert_clean(app)
        status = [s.label for s in app.sidebar.status]  # not "Unpacking…" once unpacked
        assert status == ["Unpacked two_digits.zip"], status
        main = "\n".join(str(m.value) for m in app.main.markdown)
        assert "**Embedding the new dataset:** two_digits · 20 images" in main
        assert "**two_digits** is being embedded (progress below); digits is still open." \
            in main
        assert app.main.get("progress") and "PCA of" not in texts(app)  # not the old view
        app.button(key="explore_previous").click().run()
        assert_clean(app)
        assert "PCA of 1,797 points" in texts(app)
        assert "Showing the previous transfer values while two_digits" in texts(app)
    finally:
        gate.set()
    settle(app)
    assert "**two_digits** · 20 images · 2 classes" in texts(app)
