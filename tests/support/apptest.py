"""Driving the dashboard headless with Streamlit's AppTest: open it on a dataset, switch
views, train a head, wait for background extraction, and read what a user would see."""

from __future__ import annotations

import io
import json

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Block, UnknownElement, Widget

from tests.support import ROOT

APP = str(ROOT / "dashboard" / "app.py")


def _scan_installed_components_once() -> None:
    """Every new AppTest scans the metadata of every installed package for Streamlit
    components (about 0.2 s quiet, 6 s on a loaded machine, 100+ AppTests in the suite);
    the installed packages do not change during a test run, so one scan per process."""
    import functools

    from streamlit.components.v2 import manifest_scanner

    scan = manifest_scanner.scan_component_manifests
    if not hasattr(scan, "cache_info"):
        manifest_scanner.scan_component_manifests = functools.lru_cache(maxsize=None)(scan)


_scan_installed_components_once()
TIMEOUT = 240  # s per run: the first run imports TensorFlow and builds the backbone
TRAIN = "FormSubmitter:train_form-Train"


def open_app(*, dataset: str, backbone: str, monkeypatch, limit: int | None = None) -> AppTest:
    """The app on `dataset` (a random `limit` of its images, or all) with `backbone` at
    32 px, after its first (clean) run."""
    monkeypatch.setenv("TRANSFER_LENS_DATASET", dataset)
    monkeypatch.setenv("TRANSFER_LENS_BACKBONE", backbone)
    monkeypatch.setenv("TRANSFER_LENS_IMAGE_SIZE", "32")
    if limit is None:
        monkeypatch.delenv("TRANSFER_LENS_LIMIT", raising=False)
    else:
        monkeypatch.setenv("TRANSFER_LENS_LIMIT", str(limit))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert_clean(at)
    return at


def texts(at: AppTest) -> str:
    """Everything readable on the page (markdown, captions, alerts, headings), one string."""
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "success", "error", "subheader",
                 "title", "header"):
        parts += [str(element.value) for element in getattr(at, kind)]
    return "\n".join(parts)


def page_text(at: AppTest) -> str:
    """All a visitor could read: texts(), code blocks, exceptions, expander labels, tables."""
    parts = [texts(at)]
    parts += [str(element.value) for kind in ("code", "exception", "text", "json")
              for element in getattr(at, kind)]
    parts += [str(expander.label) for expander in at.expander]
    parts += [table.value.to_csv() for table in at.dataframe]
    return "\n".join(parts)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def show(at: AppTest, view: str) -> AppTest:
    """Open `view` (its title) as a click in the menu at the top does: one run of its page."""
    from dashboard.pages import BY_TITLE

    return show_path(at, BY_TITLE[view].url_path)


def show_path(at: AppTest, url_path: str) -> AppTest:
    """Open the URL path `url_path`, as a link or the menu does. AppTest.switch_page takes
    page files only; a page's id is the hash of its URL path."""
    from streamlit.util import calc_hash

    at._page_hash = calc_hash(url_path)
    try:
        at.run()
    finally:
        at._page_hash = ""  # later runs stay on the page this one finished on
    assert_clean(at)
    return at


def shown(at: AppTest) -> str:
    """The title of the view the last run drew."""
    from dashboard.pages import BY_URL
    from dashboard.state import SHOWN_VIEW

    return BY_URL[at.session_state[SHOWN_VIEW]].title


def metric(at: AppTest, label: str) -> str:
    found = [m for m in at.metric if m.label == label]
    assert found, f"no metric {label!r} among {[m.label for m in at.metric]}"
    return found[0].value


def chart_title(at: AppTest) -> str:
    return json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["title"]["text"]


def percent(text: str) -> float:
    return float(text.rstrip("%")) / 100


def all_captions(at: AppTest) -> list[str]:
    return [caption for image in at.image for caption in image.captions]


def train(at: AppTest, head: str = "logreg", **params) -> AppTest:
    show(at, "Train a head")
    at.segmented_control(key="head_type").set_value(head).run()
    for name, value in params.items():
        at.number_input(key=f"hp_{head}_{name}").set_value(value)
    at.button(key=TRAIN).click().run()
    assert_clean(at)
    return at


def settle(at: AppTest) -> AppTest:
    """After a settings change: new transfer values are embedded in the background while
    the previous workspace shows; wait for that extraction, then rerun as the sidebar's
    poll would (AppTest does not run fragments on a timer)."""
    from dashboard.services import extraction

    for _, job in extraction._extractions.running():
        assert job.wait(TIMEOUT), f"{job.name} did not finish"
    at.run()
    assert_clean(at)
    return at


def sidebar_texts(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in at.sidebar.markdown)


def head_keys(at: AppTest) -> list[str]:
    """The heads listed in the Train view, in order (each has a delete button)."""
    return [b.key.removeprefix("head_delete_") for b in at.button
            if b.key and b.key.startswith("head_delete_") and "_yes_" not in b.key
            and "_no_" not in b.key]


def download(at: AppTest, key: str, files: dict[str, bytes]):
    """The CSV behind the download button `key`, as a DataFrame."""
    import pandas as pd

    found = [b for b in at.get("download_button") if b.proto.id.endswith(key)]
    assert found, f"no download button {key}"
    file_id = found[0].proto.url.rsplit("/", 1)[-1].split(".")[0]
    matches = [data for name, data in files.items() if _file_id(data, name) == file_id]
    assert matches, (found[0].proto.url, list(files))
    return pd.read_csv(io.BytesIO(matches[0]))


def _file_id(data: bytes, file_name: str) -> str:
    from streamlit.runtime.memory_media_file_storage import _calculate_file_id

    return _calculate_file_id(data, "text/csv", file_name)


def digits_test_count() -> int:
    from core.datasets.registry import load_dataset

    return int(load_dataset(name="digits").split_mask("test").sum())


def record_downloads(monkeypatch) -> dict[str, bytes]:
    """file name → bytes of every file the app hands to a download button (AppTest keeps
    them in an in-memory media store that the test cannot reach after a run)."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    files: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):
        if filename is not None and isinstance(path_or_data, bytes):
            files[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    return files


def reviewed(at: AppTest) -> tuple[int, int, int]:
    """(reviewed, of, changed) from the Review view's heading."""
    import re

    found = re.search(r"### ([\d,]+) of ([\d,]+) reviewed\s+([\d,]+) changed", texts(at))
    assert found, texts(at)
    return tuple(int(g.replace(",", "")) for g in found.groups())


class _ChartSelection(Widget):
    """A plotly chart whose selection event the test sets (AppTest has no plotly widget)."""

    def __init__(self, proto, root, event: dict) -> None:
        self.proto, self.root, self.id = proto, root, proto.id
        self.key, self.disabled, self.type, self._value = None, False, "plotly_chart", event

    @property
    def value(self):
        return self._value

    @property
    def _widget_state(self):
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        state = WidgetState(id=self.id)
        state.string_value = json.dumps(self._value)
        return state


def select_on_chart(at: AppTest, key: str, *, box=(), lasso=(), points=(),
                    event=None) -> AppTest:
    """Send a box, lasso or points selection event from the plotly chart whose key is `key`
    (the projection_chart, regression_chart, slice_chart, confusion_chart), then rerun.
    `event`: any JSON value sent as the event instead (a forged one; NaN goes as `NaN`)."""
    if event is None:
        event = {"selection": {"points": list(points), "point_indices": [], "box": list(box),
                               "lasso": list(lasso)}}

    def swap(block: Block) -> bool:
        for position, child in block.children.items():
            if (isinstance(child, UnknownElement) and child.type == "plotly_chart"
                    and child.proto.id.endswith(key)):
                block.children[position] = _ChartSelection(child.proto, child.root, event)
                return True
            if isinstance(child, Block) and swap(child):
                return True
        return False

    assert swap(at._tree), f"no chart {key} on the page"
    return at.run()
