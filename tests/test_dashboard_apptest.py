"""The dashboard driven headless with Streamlit's AppTest, offline, on digits.

Most tests use the tiny test backbone (seconds, no weights); one uses the real
EfficientNet-Lite0 at a small input size. Each asserts on what a user would see: texts,
metrics, tables and images, and that no error or traceback is shown.
"""

from __future__ import annotations

import io
import json
import time
import re
import zipfile

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.support.apptest import (APP, TIMEOUT, TRAIN, all_captions,  # noqa: E402
                                   assert_clean, chart_title, digits_test_count, download,
                                   head_keys, metric, open_app, percent, settle, show, show_path,
                                   shown, sidebar_texts, texts, train)
from tests.support.data import digit_pngs  # noqa: E402

pytestmark = pytest.mark.slow  # the whole app (AppTest), each test from its first run


# --- tests ---

def test_neighbour_graph_is_built_in_the_background(app: AppTest, isolated_cache) -> None:
    """Once the transfer values are ready the kNN graph starts in a thread: it reaches the
    cache without any selection, so the first selection does not wait for it."""
    import time

    from core.base.cache import ArrayCache

    cache = ArrayCache(kind="knn", root=isolated_cache)
    deadline = time.monotonic() + 60
    while not cache.keys() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cache.keys(), "no kNN graph was built after the workspace opened"
    assert "Selection:" not in texts(app)  # nothing was selected: the build was unasked


def test_new_settings_embed_in_the_background_while_the_previous_workspace_shows(
        app: AppTest, tiny_backbone) -> None:
    """Changing the input size starts an extraction in a background thread: the run comes
    back at once with the previous workspace (its views work), the sidebar shows the
    extraction's progress, and the next run after it finished shows the new values."""
    import threading

    from core.base.progress import Progress
    from dashboard.services import extraction

    train(app)
    show(app, "Projections")
    gate, seen = threading.Event(), []
    real = extraction._extraction_job

    def held_job(settings, dataset, key):  # the extraction waits for the test's go
        job = real(settings, dataset, key)
        seen.append(job)
        return job

    import core.features.transfer_values as tv_module

    original = tv_module.compute_transfer_values

    def slow_compute(**kwargs):
        progress = kwargs["progress"]
        progress(Progress("embedding", 0, 1797))
        gate.wait(TIMEOUT)
        return original(**kwargs)

    tv_module.compute_transfer_values = slow_compute
    extraction._extraction_job = held_job
    try:
        app.selectbox(key="image_size").set_value(48).run()
        assert_clean(app)
        page = texts(app)
        # the previous values are still what every view shows …
        assert "at 32 px → 16-d transfer values" in page
        assert "Showing the previous transfer values while digits · 1,797 images · " \
               f"{tiny_backbone} at 48 px are embedded in the background" in page
        assert "PCA of 1,797 points" in page
        assert "Embedding in the background:" in sidebar_texts(app)
        assert seen and not seen[0].done
        show(app, "Confusion")  # … and they work while the extraction runs
        assert "Train a head first" not in texts(app)
        gate.set()
    finally:
        gate.set()
        tv_module.compute_transfer_values = original
        extraction._extraction_job = real
    settle(app)
    page = texts(app)
    assert "at 48 px → 16-d transfer values" in page
    assert "Showing the previous transfer values" not in page
    assert "Transfer values: **computed** (cache miss)" in page


def test_opens_on_projections_with_cache_status(app: AppTest, tiny_backbone) -> None:
    page = texts(app)
    assert "**digits** · 1,797 images · 10 classes" in page
    assert f"**{tiny_backbone}** at 32 px → 16-d transfer values" in page
    assert "PCA of 1,797 points" in page
    assert "Transfer values: **computed** (cache miss)" in page
    assert "Head: none trained on these transfer values yet" in page
    assert "Select points on the plot" in page
    assert shown(app) == "Projections"
    # a second visitor (new session, same cache) gets the cached transfer values
    again = AppTest.from_file(APP, default_timeout=TIMEOUT)
    again.run()
    assert_clean(again)
    assert "Transfer values: **cache hit**" in texts(again)


def test_selection_shows_gallery_class_mix_and_neighbours(app: AppTest) -> None:
    from dashboard.state.selection import Selection

    tv_key = app.session_state["tv_key"]
    chosen = np.array([3, 10, 17, 42, 100, 1500])
    app.session_state["selection"] = Selection(tv_key=tv_key, indices=chosen)
    app.run()
    assert_clean(app)
    assert "Selection: 6 images" in texts(app)
    captions = all_captions(app)
    for index in chosen:  # captioned with the stable sample id, not the row number
        assert any(c.startswith(f"digits/{index:04d} ") for c in captions), (index, captions)
    # the class mix: one bar per class present, most frequent first, in the scatter's colours
    mix = json.loads(app.get("plotly_chart")[1].proto.spec)["data"][0]
    assert sum(mix["x"]) == 6 and mix["orientation"] == "h" and len(set(mix["y"])) == len(mix["y"])
    assert list(mix["x"]) == sorted(mix["x"], reverse=True)
    from dashboard.ui.figures import palette

    assert mix["marker"]["color"] == [palette(10)[int(label)] for label in mix["y"]]
    # the neighbours of the first selected image: the query plus 8 neighbours
    query = [c for c in captions if c.endswith("(query)")]
    assert query and query[0].startswith("digits/0003 ")
    assert sum("d=" in c for c in captions) == 8
    assert re.search(r"\d of 8 neighbours share its label", texts(app))
    # one click under a thumbnail: that image's neighbours
    app.button(key="selection_gallery_nb_42").click().run()
    assert_clean(app)
    query = [c for c in all_captions(app) if c.endswith("(query)")]
    assert query == [c for c in query if c.startswith("digits/0042 ")] and query
    assert "Nearest neighbours of digits/0042" in texts(app)
    # a neighbour's own neighbours are one click further
    neighbour = next(b.key for b in app.button
                     if b.key and b.key.startswith("proj_neighbours_nb_")
                     and b.key != "proj_neighbours_nb_42")
    app.button(key=neighbour).click().run()
    assert f"Nearest neighbours of digits/{int(neighbour.rsplit('_', 1)[1]):04d}" in texts(app)
    # the selection survives a trip to another view and back
    show(app, "Export")
    show(app, "Projections")
    assert "Selection: 6 images" in texts(app)
    # Inspect is one click away from any thumbnail
    app.button(key="selection_gallery_in_100").click().run()
    assert_clean(app)
    assert shown(app) == "Inspect"
    assert app.number_input(key="inspect_index").value == 100
    show(app, "Projections")
    app.button(key="clear_selection").click().run()
    assert "Select points on the plot" in texts(app)


def test_link_opens_the_same_picture(tiny_backbone, monkeypatch, isolated_cache) -> None:
    """Dataset, backbone, input size, subset, method, its t-SNE/UMAP parameters and
    colouring come from the URL's query parameters at session start, and go back into it
    when changed; bad ones are ignored with a warning."""
    from core.base.cache import ArrayCache

    monkeypatch.delenv("TRANSFER_LENS_DATASET", raising=False)
    monkeypatch.delenv("TRANSFER_LENS_LIMIT", raising=False)
    monkeypatch.setenv("TRANSFER_LENS_BACKBONE", "efficientnet_lite0")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"ds": "digits", "bb": tiny_backbone, "px": "48", "n": "1000",
                            "m": "tsne", "perplexity": "40", "c": "split"})
    at.run()
    assert_clean(at)
    page = texts(at)
    assert "**digits** · 1,000 of 1,797 images · 10 classes" in page
    assert f"**{tiny_backbone}** at 48 px" in page
    assert "t-SNE of 1,000 points" in page
    assert '"train"' in at.get("plotly_chart")[0].proto.spec  # coloured by split
    assert at.query_params["m"] == "tsne" and at.query_params["n"] == "1000"
    # the link's perplexity: on the slider (bounded as core declares it), and the map's
    slider = at.slider(key="tsne_perplexity")
    assert (slider.value, slider.min, slider.max) == (40, 5, 100)
    assert at.query_params["perplexity"] == "40"
    cache = ArrayCache(kind="projections", root=isolated_cache)
    assert [cache.manifest(key)["key_fields"]["params"]["perplexity"]
            for key in cache.keys()] == [40.0]
    # a change goes back into the link (PCA has no parameters to link)
    at.segmented_control(key="proj_method").set_value("pca").run()
    assert at.query_params["m"] == "pca" and "perplexity" not in at.query_params
    # a link with bad values: ignored with a warning, never a traceback
    bad = AppTest.from_file(APP, default_timeout=TIMEOUT)
    bad.query_params.update({"ds": "digits", "bb": tiny_backbone, "px": "huge", "m": "nope",
                             "c": "split", "perplexity": "500", "min_dist": "abc",
                             "dims": "4", "space": "sideways"})
    bad.run()
    assert not bad.exception and not bad.error
    warnings = " ".join(w.value for w in bad.warning)
    assert "`px=huge`" in warnings and "`m=nope`" in warnings
    assert ("`perplexity=500`: perplexity must be an integer from 5 to 100, got 500; the "
            "default 30 is used") in warnings
    assert "`min_dist=abc`: min_dist must be a number from 0 to 1, got 'abc'" in warnings
    assert "`dims=4`: dims must be one of 2, 3, got '4'; the map is 2-D" in warnings
    assert ("`space=sideways`: the space is original or fine_tuned; the original is "
            "shown") in warnings
    assert not {"perplexity", "min_dist", "dims", "space"} & set(bad.query_params)
    assert "PCA of 1,797 points" in texts(bad)
    assert bad.query_params["m"] == "pca"
    # more images than the dataset has: all are embedded, and the link's note says so
    # (issue 28 item 6: n=99999999 quietly became "all")
    big = AppTest.from_file(APP, default_timeout=TIMEOUT)
    big.query_params.update({"ds": "digits", "bb": tiny_backbone, "px": "32", "n": "99999999",
                             "dims": "3"})
    big.run()
    assert not big.exception and not big.error
    warnings = " ".join(w.value for w in big.warning)
    assert "`n=99999999`: this dataset has 1,797 images, so all 1,797 are embedded" in warnings
    assert "**digits** · 1,797 images" in texts(big)
    assert big.query_params["n"] == "all"  # the link says what is shown: a reload warns no more
    assert "Switch off 3-D to select points" in texts(big) and big.query_params["dims"] == "3"
    # a link from an upload session (or its reload): the uploader waits for the .zip, and
    # no other dataset embeds meanwhile with the link's n=all (issue 28)
    upload = AppTest.from_file(APP, default_timeout=TIMEOUT)
    upload.query_params.update({"ds": "upload", "bb": tiny_backbone, "n": "all"})
    upload.run()
    assert_clean(upload)
    assert "**This link was made on an uploaded dataset**" in texts(upload)
    assert upload.session_state["dataset_choice"] == "__upload__"
    assert "tv_key" not in upload.session_state  # nothing embedded
    assert upload.query_params["ds"] == "upload" and upload.query_params["n"] == "all"


def test_projection_methods_and_colouring(tiny_backbone, monkeypatch) -> None:
    # t-SNE and UMAP on a subset: the same checks at a third of the cost of all 1,797
    app = open_app(dataset="digits", backbone=tiny_backbone, monkeypatch=monkeypatch, limit=600)
    assert "**digits** · 600 of 1,797 images" in texts(app)
    app.toggle(key="proj_3d").set_value(True).run()  # 3-D PCA: what is checked, cheaply
    assert_clean(app)
    assert "Switch off 3-D to select points" in texts(app)
    app.toggle(key="proj_3d").set_value(False).run()
    app.segmented_control(key="proj_method").set_value("tsne").run()
    assert_clean(app)
    assert "t-SNE of 600 points" in texts(app)
    # colouring by prediction needs a head: said so, and coloured by class meanwhile
    app.segmented_control(key="proj_colour").set_value("correct").run()
    assert "needs a trained head" in texts(app)
    train(app)
    show(app, "Projections")
    assert "needs a trained head" not in texts(app)
    figure = app.get("plotly_chart")[0].proto.spec
    assert '"wrong"' in figure and '"correct"' in figure
    app.segmented_control(key="proj_method").set_value("umap").run()
    assert_clean(app)
    assert "UMAP of 600 points" in texts(app)


@pytest.mark.parametrize("head,params", [
    ("logreg", {}),
    ("softmax", {"epochs": 30, "learning_rate": 0.01}),
    ("mlp", {"epochs": 20, "hidden": 64, "learning_rate": 0.01})])
def test_train_each_head(app: AppTest, head: str, params: dict) -> None:
    train(app, head, **params)
    test_accuracy = percent(metric(app, "Test accuracy"))
    chance = percent(metric(app, "Before: chance"))
    assert 0.3 < test_accuracy <= 1.0 and chance < 0.2
    delta = [m for m in app.metric if m.label == "Test accuracy"][0].proto.delta
    assert delta.endswith("vs chance")
    assert percent(metric(app, "Before: kNN vote")) > chance
    table = app.dataframe[-1].value
    assert list(table["class"]) == [str(d) for d in range(10)]
    assert set(table.columns) >= {"precision", "recall", "f1", "support"}
    assert table["support"].sum() == digits_test_count()
    if head != "logreg":  # Keras heads log epochs: the curves are drawn
        assert "**Loss**" in texts(app) and "**Accuracy**" in texts(app)
    # the sidebar and other views now know the head
    assert f"Head: **{head}**, test accuracy {test_accuracy:.1%}" in texts(app)
    # training again compares with the previous head
    train(app, head, **params)
    delta = [m for m in app.metric if m.label == "Test accuracy"][0].proto.delta
    assert delta.endswith(f"vs previous {head}")


def test_a_view_switch_is_one_script_run(app: AppTest, tmp_path, monkeypatch) -> None:
    """Opening a view from the menu, and a button that goes to a view, each run the script
    once (app.py logs one line per run); the URL's parameters stay."""
    from dashboard.pages import VIEWS, offered

    log = tmp_path / "runs.jsonl"
    monkeypatch.setenv("TRANSFER_LENS_RUN_LOG", str(log))

    def runs() -> list[str]:
        return [json.loads(line)["view"] for line in log.read_text().splitlines()] \
            if log.exists() else []

    link = dict(app.query_params)
    assert link.get("ds") == "digits"
    for view in [*offered(numeric_targets=False)[1:], VIEWS[0]]:
        before = len(runs())
        show(app, view.title)
        assert runs()[before:] == [view.url_path], view.title
        assert shown(app) == view.title
        assert dict(app.query_params) == link
    show(app, "Confusion")
    before = len(runs())
    app.button(key="goto_train_confusion").click().run()
    assert runs()[before:] == ["train"]
    assert shown(app) == "Train a head"
    assert dict(app.query_params) == link


def test_old_urls_and_views_not_offered_land_on_a_view(app: AppTest) -> None:
    """/label-issues (the old name) opens Data quality; /regression on digits (no numeric
    target, so not in the menu) opens Projections with a note saying why."""
    show_path(app, "label-issues")
    assert shown(app) == "Data quality"
    show_path(app, "regression")
    assert shown(app) == "Projections"
    note = "The link opens “Regression”, which needs a numeric target; **digits** has none"
    assert note in texts(app)
    assert "Select points on the plot" in texts(app)
    app.run()  # the note stays while the view does …
    assert note in texts(app)
    show(app, "Export")  # … and goes with it
    show(app, "Projections")
    assert note not in texts(app)


def test_views_ask_for_a_head_first(app: AppTest) -> None:
    for view in ("Confusion", "Failures"):
        show(app, view)
        assert "Train a head first" in texts(app)
    app.button(key="goto_train_failures").click().run()
    assert shown(app) == "Train a head"


def test_confusion_matrix_and_cell_gallery(app: AppTest) -> None:
    train(app)
    show(app, "Confusion")
    page = texts(app)
    match = re.search(r"([\d,]+) test images, ([\d,]+) on the diagonal", page)
    assert match and int(match.group(1)) == digits_test_count()
    spec = app.get("plotly_chart")[0].proto.spec
    assert '"heatmap"' in spec
    # pick the diagonal cell of class 0: its correctly classified images
    app.selectbox(key="cm_true").set_value(0)
    app.selectbox(key="cm_pred").set_value(0).run()
    assert_clean(app)
    match = re.search(r"\*\*([\d,]+) images of class “0” correctly classified\*\*", texts(app))
    assert match and int(match.group(1)) > 0
    assert len(all_captions(app)) == int(match.group(1))
    app.toggle(key="cm_normalized").set_value(True).run()
    assert_clean(app)
    assert "%" in app.get("plotly_chart")[0].proto.spec
    app.segmented_control(key="cm_split").set_value("all").run()
    assert "1,797 all images" in texts(app)
    # the cell and split are in the link, and a new session opened on it shows them
    assert app.query_params["cell"] == "0,0" and app.query_params["split"] == "all"
    linked = AppTest.from_file(APP, default_timeout=TIMEOUT)
    linked.query_params.update({**dict(app.query_params), "cell": "2,7"})
    linked.run()
    show(linked, "Confusion")
    assert "1,797 all images" in texts(linked)
    assert "images of class “2” predicted as “7”" in texts(linked) or \
        "image of class “2” predicted as “7”" in texts(linked)
    assert linked.query_params["cell"] == "2,7"
    bad = AppTest.from_file(APP, default_timeout=TIMEOUT)
    bad.query_params.update({**dict(app.query_params), "cell": "2,99", "split": "nope"})
    bad.run()
    show(bad, "Confusion")
    warnings = " ".join(w.value for w in bad.warning)
    assert "`cell=2,99`" in warnings and "`split=nope`" in warnings
    assert "test images" in texts(bad)  # the defaults: the test split, most confused cell


def test_failure_gallery_worst_first_with_filters(app: AppTest) -> None:
    train(app)
    show(app, "Failures")
    match = re.search(rf"\*\*([\d,]+) of {digits_test_count()} test images are misclassified\*\*",
                      texts(app))
    assert match
    failures = int(match.group(1))
    assert failures > 0
    captions = all_captions(app)
    assert len(captions) == min(failures, 40)
    confidences = [int(c.rsplit(" ", 1)[1].rstrip("%")) for c in captions]
    assert confidences == sorted(confidences, reverse=True)  # worst (most confident) first
    true_class = int(captions[0].split(" → ")[0])
    app.multiselect(key="fail_true").set_value([true_class]).run()
    assert_clean(app)
    assert all(c.startswith(f"{true_class} → ") for c in all_captions(app))
    assert "match the filters" in texts(app) or failures == len(all_captions(app))
    # a thumbnail's neighbours, then Inspect, each one click away
    first = next(b.key for b in app.button if b.key and b.key.startswith("fail_gallery_nb_"))
    index = int(first.rsplit("_", 1)[1])
    app.button(key=first).click().run()
    assert_clean(app)
    assert f"Nearest neighbours of digits/{index:04d}" in texts(app)
    assert any(c.startswith(f"digits/{index:04d} ") and c.endswith("(query)")
               for c in all_captions(app))
    app.button(key=f"inspect_{index}").click().run()
    assert shown(app) == "Inspect"
    assert app.number_input(key="inspect_index").value == index


def test_label_issues(app: AppTest) -> None:
    show(app, "Data quality")
    assert "never saw the image" in texts(app)
    app.button(key="find_issues").click().run()
    assert_clean(app)
    page = texts(app)
    match = re.search(r"\*\*([\d,]+) suspected label errors\*\* among 1,797 images", page)
    assert match, page
    if int(match.group(1)) > 0:
        assert "Given: **" in page and "Suggested: **" in page
        assert any(c.startswith("digits/") for c in all_captions(app))
        first = next(b.key for b in app.button if b.key and b.key.startswith("issue_nb_"))
        app.button(key=first).click().run()
        assert_clean(app)
        index = int(first.rsplit("_", 1)[1])
        assert f"Nearest neighbours of digits/{index:04d}" in texts(app)


def test_label_issues_rank_like_the_cli(app: AppTest, tiny_backbone, capsys) -> None:
    """Same data, same settings: the app ranks suspected label errors as the CLI does
    (`python -m core label-issues`: 5-fold cross-fitted logreg, core's neighbour count);
    the Data quality view's first section is the label errors."""
    from core.cli.main import main as cli

    show(app, "Data quality")
    app.button(key="find_issues").click().run()
    assert_clean(app)
    page = texts(app)
    flagged = int(re.search(r"\*\*([\d,]+) suspected label errors\*\*", page).group(1)
                  .replace(",", ""))
    # the issue images are captioned with their sample id, their neighbours by class name
    shown = [int(c.split("/")[1]) for c in all_captions(app) if re.fullmatch(r"digits/\d+", c)]
    capsys.readouterr()
    assert cli(["label-issues", "--dataset", "digits", "--backbone", tiny_backbone,
                "--image-size", "32", "--json", "--top", str(len(shown))]) in (0, None)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["n"] == 1797 and result["cross_fit_folds"] == 5
    assert flagged == result["flagged"]
    assert shown == [row["index"] for row in result["top"]]
    from core.analysis.label_issues import DEFAULT_NEIGHBORS

    assert f"the {DEFAULT_NEIGHBORS} nearest neighbours" in page


def test_inspect_dataset_image_and_upload(app: AppTest) -> None:
    from PIL import Image

    show(app, "Inspect")
    assert "Train a head first" in texts(app)  # the prediction needs a head
    train(app)
    show(app, "Inspect")
    app.number_input(key="inspect_index").set_value(7).run()
    assert_clean(app)
    page = texts(app)
    assert "Label **7** · " in page  # digits are stored 0, 1, ..., 9, 0, 1, ...
    assert chart_title(app) == "Its 16 transfer values as a 4×4 picture"
    top = app.dataframe[0].value
    assert len(top) == 5 and top["probability"].is_monotonic_decreasing
    assert abs(top["probability"].sum()) <= 1.0001
    assert any(c.endswith("(query)") and c.startswith("digits/0007 ") for c in all_captions(app))
    assert app.text_input(key="inspect_id").value == "digits/0007"
    # the name shown under every image opens it; an index only as a fallback
    app.text_input(key="inspect_id").set_value("digits/0012").run()
    assert app.number_input(key="inspect_index").value == 12 and "Label **2** · " in texts(app)
    app.text_input(key="inspect_id").set_value("#9").run()
    assert app.text_input(key="inspect_id").value == "digits/0009"
    app.text_input(key="inspect_id").set_value("train/nope").run()
    assert_clean(app)
    assert any("No image here has the id “train/nope”" in w.value for w in app.warning)
    assert app.text_input(key="inspect_id").value == "digits/0009"  # the image stays
    # a new image, classified end to end
    app.segmented_control(key="inspect_source").set_value("upload").run()
    buffer = io.BytesIO()
    Image.fromarray(np.full((20, 20, 3), 200, np.uint8)).save(buffer, format="PNG")
    app.file_uploader(key="inspect_upload").set_value(("new.png", buffer.getvalue(),
                                                       "image/png")).run()
    assert_clean(app)
    assert len(app.dataframe[0].value) == 5
    assert sum("d=" in c for c in all_captions(app)) == 8
    # an empty file is named, and said to be empty
    app.file_uploader(key="inspect_upload").set_value(("empty.jpg", b"", "image/jpeg")).run()
    assert not app.exception
    assert [e.value for e in app.error] == ["empty.jpg is empty (0 bytes). Fix: upload the "
                                            "image file again, or another one."]


def test_export_files(app: AppTest, isolated_cache) -> None:
    show(app, "Export")
    assert "Train a head first" in texts(app)
    app.button(key="create_values_npy").click().run()
    assert_clean(app)
    values = list(isolated_cache.glob("exports/*/*.npy"))
    assert len(values) == 1 and np.load(values[0]).shape == (1797, 16)
    assert any(b.label == f"Download {values[0].name}" for b in app.get("download_button"))
    app.radio(key="export_values_fmt").set_value("parquet").run()
    app.button(key="create_values_parquet").click().run()
    app.button(key="create_projection_pca_2").click().run()
    assert_clean(app)
    assert list(isolated_cache.glob("exports/*/*.parquet"))
    csv = list(isolated_cache.glob("exports/*/*.csv"))
    assert csv and csv[0].read_text().count("\n") >= 1797
    train(app)
    show(app, "Export")
    head_button = [b for b in app.button if b.key and b.key.startswith("create_head_")]
    head_button[0].click().run()
    model_button = [b for b in app.button if b.key and b.key.startswith("create_model_")]
    model_button[0].click().run()
    assert_clean(app)
    labels = [b.label for b in app.get("download_button")]
    assert any("head" in label for label in labels)
    assert any(label.endswith("_model.keras") for label in labels)


def test_change_dataset_backbone_and_invalidation(app: AppTest, tmp_path, monkeypatch) -> None:
    from core.backbones.registry import REGISTRY, BackboneSpec

    train(app)
    assert "Head: **logreg**" in texts(app)
    # another backbone: new transfer values (a cache miss), and the head no longer applies
    REGISTRY["tiny_test_cnn_b"] = BackboneSpec(
        name="tiny_test_cnn_b", native_size=16, feature_dim=16, offline=True,
        description="second test-only CNN", builder="tests.support.tiny_backbone:build_tiny",
        weights_id=lambda: "seed7-b", unavailable_reason=lambda: None)
    try:
        app.run()  # the sidebar lists backbones as they are registered at each run
        app.selectbox(key="backbone_choice").set_value("tiny_test_cnn_b").run()
        settle(app)
        page = texts(app)
        assert "**tiny_test_cnn_b** at 32 px" in page
        assert "Transfer values: **computed** (cache miss)" in page
        assert "Head: none trained on these transfer values yet" in page
        show(app, "Confusion")
        assert "Train a head first" in texts(app)
        # back to the first backbone: its head is still there
        app.selectbox(key="backbone_choice").set_value("tiny_test_cnn").run()
        assert "Head: **logreg**" in texts(app)
    finally:
        REGISTRY.pop("tiny_test_cnn_b", None)
    # input size: the header and the key follow it
    app.selectbox(key="image_size").set_value(48).run()
    settle(app)
    assert "at 48 px" in texts(app)
    # a folder dataset: class folders of PNGs
    folder = tmp_path / "my_digits"
    for name, data in digit_pngs().items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    app.selectbox(key="dataset_choice").set_value("__folder__").run()
    app.text_input(key="dataset_folder").set_value(str(folder)).run()
    settle(app)
    assert "**my_digits** · 36 images · 3 classes" in texts(app)
    show(app, "Projections")
    assert "PCA of 36 points" in texts(app)


def test_zip_upload_dataset(app: AppTest) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in digit_pngs(("3", "8"), per_class=10).items():
            archive.writestr(f"two_digits/{name}", data)
    app.selectbox(key="dataset_choice").set_value("__upload__").run()
    assert "Upload a .zip" in texts(app)
    app.file_uploader(key="dataset_zip").set_value(("nothing.zip", b"", "application/zip")).run()
    assert not app.exception
    assert any("nothing.zip is empty (0 bytes)" in e.value for e in app.error)
    app.file_uploader(key="dataset_zip").set_value(("two_digits.zip", buffer.getvalue(),
                                                    "application/zip")).run()
    settle(app)
    assert "**two_digits** · 20 images · 2 classes" in texts(app)


@pytest.mark.slow  # embeds 10,000 Fashion-MNIST images, then 1,000
def test_fashion_mnist_subset(app: AppTest) -> None:
    from core.datasets.registry import DATASETS

    if not DATASETS["fashion_mnist"].local():
        pytest.skip("Fashion-MNIST files are not installed (apt package dataset-fashion-mnist)")
    app.selectbox(key="dataset_choice").set_value("fashion_mnist").run()
    settle(app)
    # the default is a 10,000-image subset, shown as such; then a smaller one on request
    assert "Embedding a random 10,000 of 70,000 images." in texts(app)
    app.select_slider(key="limit").set_value(1000).run()  # a pending choice: nothing starts
    assert_clean(app)
    assert "Embedding a random 10,000 of 70,000 images." in texts(app)
    app.button(key="apply_limit").click().run()
    settle(app)
    assert "**fashion_mnist** · 1,000 of 70,000 images · 10 classes" in texts(app)


def test_errors_are_messages_not_tracebacks(app: AppTest, tmp_path) -> None:
    app.selectbox(key="dataset_choice").set_value("__folder__").run()
    app.text_input(key="dataset_folder").set_value(str(tmp_path / "missing")).run()
    assert not app.exception
    assert len(app.error) == 1
    assert "Fix:" in app.error[0].value and "Something went wrong" not in app.error[0].value
    # the cache panel still works
    assert "Clear cache…" in [b.label for b in app.button]


def test_unavailable_backbone_explains_why(app: AppTest) -> None:
    from core.backbones.registry import REGISTRY

    spec = REGISTRY["resnet50"]
    if spec.unavailable_reason() is None:
        pytest.skip("resnet50 weights are reachable here; nothing to explain")
    app.selectbox(key="backbone_choice").set_value("resnet50").run()
    assert not app.exception
    assert any("Fix:" in w.value for w in app.warning)  # the sidebar explains
    # the failed extraction (in the background) is told in the next run
    from dashboard.services import extraction

    # the job may still be queued behind an earlier test's background work: rerun, as a
    # person's next click would, until its failure is told (or the timeout)
    deadline = time.monotonic() + TIMEOUT
    while True:
        for _, job in extraction._extractions.running():
            job.wait(TIMEOUT)
        app.run()
        assert not app.exception
        if any("Fix:" in e.value for e in app.error) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert any("Fix:" in e.value for e in app.error)  # and the page does not crash


def test_clear_cache(app: AppTest, isolated_cache) -> None:
    assert any(isolated_cache.iterdir())
    app.button(key="clear_cache").click().run()  # asks first: what, and how much
    assert_clean(app)
    assert any(isolated_cache.glob("transfer_values/*/manifest.json"))
    scope = app.radio(key="clear_scope")
    assert scope.options[0].startswith("This dataset (digits): ")
    app.button(key="clear_cache_cancel").click().run()
    assert "clear_cache_confirm" not in [b.key for b in app.button]
    # this dataset's entries only: its transfer values and the projection made from them
    app.button(key="clear_cache").click().run()
    app.button(key="clear_cache_confirm").click().run()
    assert_clean(app)
    assert "Cache cleared:" in texts(app)
    assert not list(isolated_cache.glob("transfer_values/*/manifest.json"))
    assert not list(isolated_cache.glob("projections/*/manifest.json"))
    # nothing is recomputed until asked
    assert "computed again when you ask" in texts(app)
    app.button(key="resume_extraction").click().run()
    assert_clean(app)
    assert "Transfer values: **computed** (cache miss)" in texts(app)
    # everything
    app.button(key="clear_cache").click().run()
    app.radio(key="clear_scope").set_value("everything").run()
    app.button(key="clear_cache_confirm").click().run()
    assert_clean(app)
    assert not any(p for p in isolated_cache.rglob("*") if p.is_file())


def test_skipped_files_are_listed(app: AppTest, tmp_path) -> None:
    folder = tmp_path / "with_broken"
    for name, data in digit_pngs(per_class=8).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    (folder / "digit_0" / "corrupt.jpg").write_bytes(np.random.default_rng(0).bytes(3000))
    app.selectbox(key="dataset_choice").set_value("__folder__").run()
    app.text_input(key="dataset_folder").set_value(str(folder)).run()
    settle(app)
    assert "**with_broken** · 24 images" in texts(app)
    assert any("1 file skipped" in w.value for w in app.warning)
    table = next(d.value for d in app.dataframe if "reason" in d.value.columns)
    assert list(table["path"]) == ["digit_0/corrupt.jpg"]
    assert table["reason"][0]


def test_fine_tune_then_compare_before_and_after(app: AppTest) -> None:
    show(app, "Fine-tune")
    assert "Fine-tune the backbone itself" in texts(app)
    assert "feature_space" not in [w.key for w in app.segmented_control]  # nothing to switch yet
    # the expected time, measured here from real steps (for the form's submitted values:
    # the defaults now), then read from the cache on the next look
    app.button(key="finetune_estimate").click().run()
    assert_clean(app)
    estimate = next(c.value for c in app.caption if "Expected: about" in c.value)
    assert "8 epochs ×" in estimate and "s/step at 32 px" in estimate, estimate
    app.run()
    assert "finetune_estimate" not in [b.key for b in app.button]  # kept: no button
    assert estimate in [c.value for c in app.caption]
    app.number_input(key="hp_finetune_epochs").set_value(3)
    app.number_input(key="hp_finetune_batch_size").set_value(64)
    app.checkbox(key="hp_finetune_flip").uncheck()  # digits are not mirror-symmetric
    app.button(key="FormSubmitter:finetune_form-Start fine-tuning").click().run()
    assert_clean(app)
    page = texts(app)
    assert "Fine-tuned backbone" in page and "3 epochs at 32 px, unfreeze all" in page
    assert "**Loss**" in page and "**Accuracy**" in page  # the per-epoch curves
    test_accuracy = percent(metric(app, "Test accuracy"))
    assert 0.0 <= test_accuracy <= 1.0
    assert percent(metric(app, "kNN vote after")) > 0.1
    delta = [m for m in app.metric if m.label == "kNN vote after"][0].proto.delta
    assert re.fullmatch(r"[+-]\d+\.\d points vs \d+\.\d% before", delta), delta

    # every view can now show the fine-tuned backbone's values
    app.button(key="show_fine_tuned").click().run()
    assert_clean(app)
    assert app.segmented_control(key="feature_space").value == "fine-tuned"
    assert "**fine-tuned** at 32 px" in texts(app)
    assert f"Head: **finetune**, test accuracy {test_accuracy:.1%}" in texts(app)
    show(app, "Confusion")
    assert "needs a trained head" not in texts(app)
    # class activation maps of the fine-tuned model, from the fine-tuned backbone's conv map
    show(app, "Failures")
    assert not app.toggle(key="fail_gallery_cam").disabled
    app.toggle(key="fail_gallery_cam").set_value(True).run()
    assert_clean(app)
    assert "Maps of the predicted class" in texts(app)
    assert "class activation maps" not in " ".join(i.value for i in app.info)
    show(app, "Projections")
    app.toggle(key="proj_compare").set_value(True).run()
    assert_clean(app)
    titles = [json.loads(chart.proto.spec)["layout"]["title"]["text"]
              for chart in app.get("plotly_chart")]
    assert titles == ["Before fine-tuning", "After fine-tuning"]
    assert sum(c.value.startswith("PCA of 1,797 points · kNN-vote accuracy")
               for c in app.caption) == 2
    _before_after_in_the_link(app, titles)
    # back to the original values: the original page again, the fine-tuning remembered
    app.segmented_control(key="feature_space").set_value("original").run()
    assert_clean(app)
    assert "**fine-tuned**" not in texts(app)
    assert "space" not in app.query_params and app.query_params["ft"]


def _before_after_in_the_link(app: AppTest, titles: list[str]) -> None:
    """The fine-tuning (`ft=`, its run key), the before/after toggle (`compare=true`) and
    the feature space (`space=fine_tuned`) are in the link: a new session on it reads the
    fine-tuning from the cache (nothing trains) and shows the same two maps, every view on
    the fine-tuned backbone; an unknown run key is named in a note, as are the toggle and
    the feature space that then have nothing to show."""
    key = app.query_params["ft"]
    assert re.fullmatch(r"[0-9a-f]{20}", key) and app.query_params["compare"] == "true"
    assert app.query_params["space"] == "fine_tuned"

    def opened(**link: str) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.query_params.update({**dict(app.query_params), **link})
        at.run()
        assert_clean(at)
        return show(at, "Projections")

    linked = opened()
    assert [json.loads(chart.proto.spec)["layout"]["title"]["text"]
            for chart in linked.get("plotly_chart")] == titles
    assert linked.toggle(key="proj_compare").value
    assert linked.query_params["ft"] == key and linked.query_params["compare"] == "true"
    assert linked.segmented_control(key="feature_space").value == "fine-tuned"
    assert "**fine-tuned** at 32 px" in texts(linked)
    assert not [w.value for w in linked.warning if "Ignored the link" in w.value]
    assert linked.query_params["space"] == "fine_tuned"
    bad = opened(ft="0" * 20)
    notes = " ".join(w.value for w in bad.warning)
    assert (f"`ft={'0' * 20}`: no finished fine-tuning has this key here; the original "
            "backbone alone is shown") in notes
    assert "`compare=true`: no fine-tuning here to compare with; one map is shown" in notes
    assert ("`space=fine_tuned`: needs a usable fine-tuning (ft=); the original is "
            "shown") in notes
    assert len(bad.get("plotly_chart")) == 1 and "ft" not in bad.query_params
    assert "space" not in bad.query_params and "**fine-tuned**" not in texts(bad)
    # core's check of a run key: its form, a finished run here, these images and backbone
    from core.base.errors import ParameterError
    from core.datasets import load_dataset
    from core.finetune.config import linked_feature_space
    from core.finetune.run import finished_config

    digits, backbone = load_dataset(name="digits"), app.query_params["bb"]
    assert finished_config(key=key, dataset=digits, backbone=backbone).epochs == 3
    assert linked_feature_space(" fine_tuned ", fine_tuned=True)
    assert not linked_feature_space("original", fine_tuned=False)
    for bad_key, images, says in ((key, digits.limited(limit=200), "on other images"),
                                  ("../" + key, digits, "20 hex digits")):
        with pytest.raises(ParameterError, match=says):
            finished_config(key=bad_key, dataset=images, backbone=backbone)


@pytest.mark.slow
def test_efficientnet_lite0_small(monkeypatch) -> None:
    """The real default backbone, on a digits subset at a small input size."""
    from core.backbones.registry import REGISTRY

    if not REGISTRY["efficientnet_lite0"].available():
        pytest.skip(REGISTRY["efficientnet_lite0"].unavailable_reason())
    monkeypatch.setenv("TRANSFER_LENS_DATASET", "digits")
    monkeypatch.setenv("TRANSFER_LENS_BACKBONE", "efficientnet_lite0")
    monkeypatch.setenv("TRANSFER_LENS_IMAGE_SIZE", "32")
    monkeypatch.setenv("TRANSFER_LENS_LIMIT", "1000")
    at = AppTest.from_file(APP, default_timeout=600)
    at.run()
    assert_clean(at)
    assert ("**digits** · 1,000 of 1,797 images · 10 classes · **efficientnet_lite0** at 32 px "
            "→ 1,280-d transfer values") in texts(at)
    train(at)
    assert percent(metric(at, "Test accuracy")) > 0.5
    show(at, "Inspect")
    assert chart_title(at) == "Its 1,280 transfer values as a 32×40 picture"


# --- heads as a history (issue 13) ---

def test_heads_history_active_restored_compared_and_deleted(app: AppTest, downloads) -> None:
    from core.heads import best_head

    tv_key = app.session_state["tv_key"]
    train(app, "logreg")
    first = app.query_params["h"]  # the active head goes into the link
    train(app, "logreg", C=0.0001)
    second = app.query_params["h"]
    assert second != first
    listed = head_keys(app)
    assert sorted(listed) == sorted([first, second])
    assert "Heads on these transfer values (2)" in texts(app)
    assert "active of 2 kept" in sidebar_texts(app)
    # the latest run is active in this session; another one is a click away
    app.button(key=f"head_use_{first}").click().run()
    assert_clean(app)
    assert app.query_params["h"] == first
    assert f"head_use_{first}" not in [b.key for b in app.button]  # active: no "use" button

    # a fresh session on the same cache lists the same heads, the best by validation active
    best = best_head(tv_key=tv_key).key
    fresh = AppTest.from_file(APP, default_timeout=TIMEOUT)
    fresh.run()
    show(fresh, "Train a head")
    assert sorted(head_keys(fresh)) == sorted(listed)
    assert fresh.query_params["h"] == best
    # a link names the active head (a reload keeps it); a bad one is ignored with a warning
    linked = AppTest.from_file(APP, default_timeout=TIMEOUT)
    other = second if best == first else first
    linked.query_params["h"] = other
    linked.run()
    assert_clean(linked)
    assert linked.query_params["h"] == other
    bad = AppTest.from_file(APP, default_timeout=TIMEOUT)
    bad.query_params["h"] = "nope"
    bad.run()
    assert "`h=nope`" in " ".join(w.value for w in bad.warning)
    assert bad.query_params["h"] == best

    # compare two side by side: accuracy, F1 per class with the change, the confusion change
    show(app, "Train a head")
    app.selectbox(key="head_compare_a").set_value(first)
    app.selectbox(key="head_compare_b").set_value(second).run()
    assert_clean(app)
    assert any(m.label == "Test accuracy: B" for m in app.metric)
    table = next(d.value for d in app.dataframe if "F1 A" in d.value.columns)
    assert list(table["class"]) == [str(d) for d in range(10)]
    assert np.allclose(table["change"], table["F1 B"] - table["F1 A"], equal_nan=True)
    chart = json.loads(next(c for c in app.get("plotly_chart")
                            if "compare_confusion" in c.proto.id).proto.spec)
    heatmap = chart["data"][0]
    assert heatmap["type"] == "heatmap" and heatmap["zmid"] == 0
    from core.heads import compare_cached_heads

    expected = compare_cached_heads(key_a=first, key_b=second)
    moved = [[int(text) if text else 0 for text in row] for row in heatmap["text"]]
    assert moved == expected["confusion_change"] and np.sum(moved) == 0

    # delete the active head: asked first, then the best remaining one becomes active
    app.button(key=f"head_delete_{first}").click().run()
    assert "Delete this head from the cache?" in texts(app)
    assert head_keys(app)  # nothing deleted yet
    app.button(key=f"head_delete_yes_{first}").click().run()
    assert_clean(app)
    assert head_keys(app) == [second]
    assert app.query_params["h"] == second
    assert "Heads on these transfer values (1)" in texts(app)


def test_widgets_take_core_bounds_and_refusals_keep_the_active_head(app: AppTest,
                                                                    monkeypatch) -> None:
    show(app, "Train a head")
    app.segmented_control(key="head_type").set_value("mlp").run()
    hidden = app.number_input(key="hp_mlp_hidden")
    assert (hidden.min, hidden.max) == (1, 100_000)
    assert "Accepts an integer from 1 to 100000" in hidden.help
    assert 0 < app.number_input(key="hp_mlp_learning_rate").min < 1e-300  # above 0
    assert app.number_input(key="hp_mlp_learning_rate").max == 1
    app.segmented_control(key="head_type").set_value("softmax").run()
    assert "hp_softmax_hidden" not in [w.key for w in app.number_input]  # fixed at 0
    train(app, "logreg")
    active = app.query_params["h"]
    line = next(m for m in sidebar_texts(app).splitlines() if "Head:" in m)

    # the widget enforces its bound: a value beyond it never reaches core
    show(app, "Train a head")
    app.segmented_control(key="head_type").set_value("mlp").run()
    app.number_input(key="hp_mlp_hidden").set_value(10**9).run()
    assert app.number_input(key="hp_mlp_hidden").value == 1024  # back to the default

    # more memory than this machine has: core's estimate and what to lower
    import core.base.memory

    monkeypatch.setattr(core.base.memory, "available_memory", lambda: 1_000_000)
    app.number_input(key="hp_mlp_hidden").set_value(100_000)
    app.button(key=TRAIN).click().run()
    assert not app.exception
    assert len(app.error) == 1 and "of memory" in app.error[0].value, texts(app)
    assert "lower" in app.error[0].value and "This is a bug" not in texts(app)
    assert "The active head is still the Logistic regression" in texts(app)
    assert app.query_params["h"] == active and line in sidebar_texts(app)


def _train_forged_params() -> None:
    """A script for AppTest.from_function: the Train view's training path called with
    parameters no widget would send (session state "forged": head and params)."""
    import streamlit as st

    from dashboard.services.extraction import Settings
    from dashboard.services.workspace import workspace
    from dashboard.ui import components
    from dashboard.ui.extraction import WATCH
    from dashboard.views import train

    ws = workspace(Settings(
        dataset="digits", dataset_label="digits", backbone="tiny_test_cnn", image_size=32,
        limit=None), watch=WATCH)
    head, params = st.session_state["forged"]
    with components.user_errors():
        train._train(ws, head, params, 0)
    active = ws.head
    st.markdown(f"active: {None if active is None else active.key}")


def test_out_of_bounds_parameters_are_refused_with_core_message(tiny_backbone) -> None:
    at = AppTest.from_function(_train_forged_params, default_timeout=TIMEOUT)
    at.session_state["forged"] = ("logreg", {})
    at.run()
    assert_clean(at)
    active = texts(at).split("active: ")[1].split()[0]
    assert active != "None"
    at.session_state["forged"] = ("mlp", {"hidden": 10**9})
    at.run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "hidden must be an integer from 1 to 100000, got 1000000000"]
    assert "This is a bug" not in texts(at)
    assert "The active head is still the Logistic regression" in texts(at)
    assert f"active: {active}" in texts(at)


def test_degenerate_run_never_becomes_active(app: AppTest) -> None:
    train(app, "logreg")
    active = app.query_params["h"]
    # one epoch at a vanishing learning rate: the weights stay random, accuracy at chance
    train(app, "softmax", epochs=1, learning_rate=1e-9, patience=0)
    assert any("This run is degenerate" in w.value for w in app.warning), texts(app)
    assert app.query_params["h"] == active
    assert len(head_keys(app)) == 2
    assert "degenerate" in texts(app)
    degenerate = next(k for k in head_keys(app) if k != active)
    assert f"head_use_{degenerate}" not in [b.key for b in app.button]  # cannot be made active
    # nor restored by a fresh session
    fresh = AppTest.from_file(APP, default_timeout=TIMEOUT)
    fresh.run()
    assert fresh.query_params["h"] == active


# --- CSV exports (issue 13) ---

def test_csv_downloads_of_selection_failures_and_label_issues(app: AppTest, downloads,
                                                              monkeypatch) -> None:
    from dashboard.state.selection import Selection

    train(app)
    show(app, "Projections")
    tv_key = app.session_state["tv_key"]
    chosen = np.array([3, 10, 17, 42, 100, 1500])
    app.session_state["selection"] = Selection(tv_key=tv_key, indices=chosen)
    app.run()
    assert_clean(app)
    frame = download(app, "selection_csv", downloads)
    assert list(frame["index"]) == list(chosen)
    assert list(frame["sample_id"]) == [f"digits/{i:04d}" for i in chosen]
    assert {"label", "class", "split", "predicted", "predicted_class", "confidence",
            "p_0", "p_9"} <= set(frame.columns)

    # a selection above EAGER_CSV_ROWS: the file is written on the click, not on every rerun
    import dashboard.ui.components as components

    monkeypatch.setattr(components, "EAGER_CSV_ROWS", 3)
    downloads.clear()
    app.run()
    assert_clean(app)
    button = [b for b in app.get("download_button") if b.proto.id.endswith("selection_csv")]
    assert button and not any(name.endswith("_selection.csv") for name in downloads)
    monkeypatch.setattr(components, "EAGER_CSV_ROWS", 20_000)

    show(app, "Failures")
    failures = int(re.search(r"\*\*([\d,]+) of \d+ test images are misclassified", texts(app))
                   .group(1))
    frame = download(app, "failures_csv", downloads)
    assert len(frame) == failures and set(frame["split"]) == {"test"}
    assert (frame["predicted"] != frame["label"]).all()
    assert list(frame["confidence"]) == sorted(frame["confidence"], reverse=True)
    assert "p_true_class" in frame.columns

    show(app, "Data quality")
    app.button(key="find_issues").click().run()
    assert_clean(app)
    count = int(re.search(r"\*\*([\d,]+) suspected label errors", texts(app)).group(1)
                .replace(",", ""))
    frame = download(app, "label_issues_csv", downloads)
    assert len(frame) == count
    assert {"sample_id", "label", "class", "suggested", "suggested_class", "score",
            "self_confidence", "knn_agreement"} <= set(frame.columns)
    if count:
        assert list(frame["score"]) == sorted(frame["score"], reverse=True)


def test_parquet_export_holds_the_active_heads_predictions(app: AppTest,
                                                          isolated_cache) -> None:
    import pandas as pd

    train(app)
    active = app.query_params["h"]
    show(app, "Export")
    app.radio(key="export_values_fmt").set_value("parquet").run()
    app.button(key=f"create_values_parquet_{active}").click().run()
    assert_clean(app)
    files = list(isolated_cache.glob(f"exports/*/*{active[:8]}.parquet"))
    assert len(files) == 1
    frame = pd.read_parquet(files[0])
    assert len(frame) == 1797
    assert {"predicted", "predicted_class", "confidence", "p_0", "p_9", "f0"} <= set(frame.columns)
    assert np.allclose(frame[[f"p_{d}" for d in range(10)]].sum(axis=1), 1, atol=1e-4)
