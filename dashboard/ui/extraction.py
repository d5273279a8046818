"""Waiting for transfer values: the extraction's progress with Stop, and the note with
Resume when the user stopped it or cleared the cache (services.extraction calls these);
in the sidebar, an extraction running in the background while the views show others."""

from __future__ import annotations

import streamlit as st

from core.base.background import BackgroundJob
from core.base.progress import Progress
from core.datasets.base import ImageDataset
from dashboard.services import preview
from dashboard.services.extraction import Settings, runtime_label, stop_extraction
from dashboard import state
from dashboard.state import clicks, session, url
from dashboard.ui.preview_map import draw_preview
from dashboard.ui.progress import computing_area, progress_panel, queued_text

MAP_VIEW = "projections"  # pages.PROJECTIONS.url_path (ui sits below pages)


class ExtractionPanel:
    """services.extraction.ExtractionWatch, drawn in the view's frame."""

    def wait(self, job: BackgroundJob, settings: Settings, dataset: ImageDataset,
             key: str) -> None:
        with computing_area("Computing transfer values"):  # alone in the view's frame
            _wait_for_extraction(job, settings, dataset, key)

    def paused(self, why: str, n: int, kept: int) -> None:
        _show_paused(why, n, kept)


WATCH = ExtractionPanel()


def _wait_for_extraction(job: BackgroundJob, settings: Settings, dataset: ImageDataset,
                         key: str) -> None:
    """Progress of the background extraction with a Stop button and a word on why, until
    it is done. A click reruns the script, which ends this wait, not the extraction."""
    stop_slot = st.empty()
    # Stop marks the key paused and ends the job at its next progress report (finished
    # chunks are kept); a session still waiting for it starts it again from them
    stop_slot.button("Stop", key="stop_extraction", on_click=stop_extraction,
                     args=(key,), icon=":material/stop_circle:",
                     help="Stops after the current batch; finished chunks are kept.")
    explain = st.empty()
    explain.caption(
        f"First time for this dataset, backbone and input size: every image goes through "
        f"{settings.backbone} once, and the transfer values are cached, so next time they "
        "load in a second. The views open as soon as this is done.")
    label = (f"Starting {settings.backbone} to embed {len(dataset):,} images at "
             f"{settings.image_size} px on {runtime_label(settings)}…")
    starting = Progress("loading the model, first batch", 0, len(dataset))
    method = state.get(state.PROJ_METHOD) or url.peek_url(url.URL_METHOD)
    if method == "umap":
        # UMAP is what the user sees next: its numba kernels compile now, not after the
        # kNN graph, where a cold start waited for them
        from core.analysis.projections import warm_up_umap_in_background

        warm_up_umap_in_background()
    first_map = _first_map(method, images=len(dataset))
    try:
        with progress_panel(label, starting="loading the model, first batch…") as panel:
            preview_slot = st.empty()  # under the progress bar
            # every pass draws (the panel redraws at most ~8 times a second), which is
            # also where Streamlit can end this run when the user clicks
            while not job.wait(0.15):
                panel(job.progress or starting)
                if first_map is not None and job.progress is not None:
                    found = preview.preview_map(key=key, dataset=dataset, method=first_map,
                                                done=job.progress.done)
                    if found is not None:
                        draw_preview(found, preview_slot, key="preview_map_extracting")
                        first_map = None
    finally:
        stop_slot.empty()
        explain.empty()


def _first_map(method: str | None, *, images: int) -> str | None:
    """The method of the first map to draw while `images` are extracted (services.preview),
    or None: only the map view draws one, and only for a large extraction."""
    from core.analysis.projections import METHODS

    if state.shown_view() not in (None, MAP_VIEW) or not preview.wanted(images):
        return None
    return method if method in METHODS else "pca"


def _show_paused(why: str, n: int, kept: int) -> None:
    if why == session.CLEARED:
        st.info(f"The cache was cleared: the transfer values of these {n:,} images are "
                "computed again when you ask.", icon=":material/delete_sweep:")
        st.button("Recompute transfer values", on_click=session.resume_extraction,
                  type="primary", key="resume_extraction", icon=":material/refresh:")
        return
    st.warning(f"Extraction stopped at {kept:,} of {n:,} images; Resume continues from "
               "there (the finished chunks are kept in the cache).",
               icon=":material/pause_circle:")
    st.button("Resume extraction", on_click=session.resume_extraction, type="primary",
              key="resume_extraction")


# --- an extraction running in the background (the sidebar, or the main pane) ---

POLL_SECONDS = 1.0


def takes_over(ws) -> bool:
    """A new dataset (an upload, another dataset) being embedded fills the main pane until
    the user chooses to keep exploring the previous one meanwhile; other settings (input
    size, backbone, subset) of the same dataset keep the views, with progress in the sidebar."""
    pending = ws.pending
    return (pending is not None and pending.settings.dataset != ws.settings.dataset
            and not clicks.exploring_previous(pending.key))


def pending_extraction(pending, *, previous=None) -> None:
    """While the sidebar's new settings are embedded in the background: its progress,
    refreshed every second, and Stop; the whole page reruns once the values are ready, so
    the views switch to them. In the sidebar while the views show the previous workspace;
    in the main pane, with an offer to keep exploring `previous` (a Workspace), when the
    new settings take it over (takes_over)."""
    @st.fragment(run_every=POLL_SECONDS)
    def poll() -> None:
        job = pending.job
        if job.done or session.extraction_paused(pending.key):
            st.rerun(scope="app")  # the views switch to the new values (or say it stopped)
        box = st.container(border=True)
        box.markdown(f"**Embedding {'the new dataset' if previous else 'in the background'}:**"
                     f" {pending.describe()}")
        progress = job.progress
        if progress is None:
            box.progress(0.0, text="loading the model, first batch…")
        elif progress.stage == "queued":
            box.progress(0.0, text=queued_text(progress))
        else:
            box.progress(progress.fraction, text=progress.describe())
        if previous is None:
            box.caption("The views keep showing the previous transfer values meanwhile and "
                        "switch by themselves when the new ones are ready.")
        else:
            box.caption("The views open on it by themselves when it is ready; its transfer "
                        "values are cached, so next time it opens in seconds.")
            box.button(f"Keep exploring {previous.settings.dataset_label} meanwhile",
                       key="explore_previous", icon=":material/arrow_back:",
                       on_click=clicks.explore_previous, args=(pending.key,),
                       help="The views show the previous dataset, with this progress in "
                            "the sidebar, until the new one is ready.")
        box.button("Stop", key="stop_background_extraction", icon=":material/stop_circle:",
                   on_click=stop_extraction, args=(pending.key,),
                   help="Stops after the current batch; finished chunks are kept, and "
                        "choosing these settings again resumes from them.")

    if previous is not None:
        poll()
        return
    with st.sidebar:
        poll()
