"""Background work the user can trust (issue 28), driven headless with AppTest on digits
and the tiny backbone: Stop ends the extraction and says where Resume starts."""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.support.apptest import TIMEOUT, assert_clean, settle, texts  # noqa: E402

pytestmark = pytest.mark.slow  # the whole app (AppTest)


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
