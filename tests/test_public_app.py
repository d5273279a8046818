"""The app on published bundles, and in public mode (TRANSFER_LENS_PUBLIC=1), with AppTest.

A small bundle (600 digits through the tiny test backbone) is published once per module
into its own cache; the app then runs on a different, empty cache, so anything it computed
instead of reading from the bundle would show up there.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.support.apptest import (APP, TIMEOUT, assert_clean, settle, show,  # noqa: E402
                                   texts, train)
from tests.support.data import digit_pngs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = "bundle:digits_tiny"
PUBLIC_REFUSAL = "is not available in this public Transfer Lens"
pytestmark = pytest.mark.slow  # the whole app (AppTest), each test from its first run


@pytest.fixture(scope="module")
def bundles_root(tmp_path_factory) -> Path:
    from core.publish.writer import publish_bundle
    from tests.support.tiny_backbone import register_tiny

    root = tmp_path_factory.mktemp("bundles")
    name = register_tiny()
    publish_bundle(dataset="digits", backbone=name, out=root / "digits_tiny", image_size=32,
                   limit=600, cache_dir=root.parent / "publish-cache")
    return root


@pytest.fixture
def on_bundles(bundles_root, tiny_backbone, monkeypatch) -> Path:
    monkeypatch.setenv("TRANSFER_LENS_BUNDLES", str(bundles_root))
    for name in ("DATASET", "LIMIT", "IMAGE_SIZE", "PUBLIC", "PUBLIC_FINETUNE"):
        monkeypatch.delenv(f"TRANSFER_LENS_{name}", raising=False)
    monkeypatch.setenv("TRANSFER_LENS_BACKBONE", tiny_backbone)
    return bundles_root


@pytest.fixture
def public(on_bundles, monkeypatch) -> Path:
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC", "1")
    return on_bundles


def run_app(**query) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(query)
    at.run()
    return at


def computed_entries(cache: Path) -> list[str]:
    return sorted(str(p.parent.relative_to(cache)) for p in cache.glob("*/*/manifest.json"))


# --- bundles ---

def test_bundle_opens_every_view_without_computing(on_bundles, isolated_cache) -> None:
    at = run_app(ds=BUNDLE)
    assert_clean(at)
    page = texts(at)
    assert "**digits_tiny (published)** · 600 images · 10 classes" in page
    assert "(precomputed) at 32 px → 16-d transfer values" in page
    assert "Transfer values: **from the published bundle**" in page
    assert "Head: **logreg**" in page  # the bundle's head is this session's head
    assert "PCA of 600 points" in page and at.get("plotly_chart")
    for method, label in (("tsne", "t-SNE"), ("umap", "UMAP")):
        at.segmented_control(key="proj_method").set_value(method).run()
        assert_clean(at)
        assert f"{label} of 600 points · from the cache in 0.0 s" in texts(at)
    # a box on the projection: gallery and neighbours from the bundle's thumbnails and graph
    show(at, "Confusion")
    assert at.get("plotly_chart") and "images of class" in texts(at)
    show(at, "Failures")
    assert "misclassified" in texts(at)
    show(at, "Data quality")
    assert "suspected label errors" in texts(at)
    show(at, "Inspect")
    assert "Label **" in texts(at) and at.image
    show(at, "Export")
    at.button(key="create_projection_umap_2").click().run()
    assert_clean(at)
    # nothing was extracted, projected or searched: the app's own cache is still empty
    assert computed_entries(isolated_cache) == []
    # another head trains on the bundle's values (and is cached like any head)
    train(at)
    assert "Trained: test accuracy" in " ".join(t.value for t in at.toast)
    kinds = {e.split("/")[0] for e in computed_entries(isolated_cache)}
    assert "heads" in kinds and kinds <= {"heads", "separability"}  # the result's kNN vote


def test_selection_on_a_bundle_shows_thumbnails_and_neighbours(on_bundles) -> None:
    at = run_app(ds=BUNDLE)
    tv_key = at.session_state["tv_key"]
    from dashboard.state.selection import Selection

    at.session_state["selection"] = Selection(tv_key=tv_key, indices=np.arange(5))
    at.run()
    assert_clean(at)
    captions = [c for image in at.image for c in image.captions]
    assert sum("d=" in c for c in captions) == 8  # the first image's neighbours
    assert "Selection: 5 images" in texts(at)


def test_bundle_app_does_not_import_tensorflow(bundles_root) -> None:
    """In a fresh process: open the bundle, every projection, label issues and a selection;
    TensorFlow is never imported (the demo starts in a second and stays small)."""
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({APP!r}, default_timeout=120)
at.query_params["ds"] = {BUNDLE!r}
at.run()
for method in ("tsne", "umap", "pca"):
    at.segmented_control(key="proj_method").set_value(method).run()
from streamlit.util import calc_hash
for path in ("confusion", "failures", "quality", "inspect"):  # as the menu at the top does
    at._page_hash = calc_hash(path)
    at.run()
    assert at.session_state["_shown_view"] == path, path
assert not at.exception and not at.error, (at.exception, at.error)
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""
    env = {**os.environ, "TRANSFER_LENS_BUNDLES": str(bundles_root),
           "TRANSFER_LENS_CACHE": str(bundles_root.parent / "fresh-cache")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["False", "False"]


# --- public mode ---

def widget_keys(at: AppTest) -> set[str]:
    keys = set()
    for kind in ("text_input", "selectbox", "button", "file_uploader", "radio"):
        keys |= {w.key for w in getattr(at, kind) if w.key}
    return keys


def test_public_mode_offers_no_server_path_cache_clearing_or_fine_tuning(public) -> None:
    at = run_app()
    assert_clean(at)
    assert "**digits_tiny (published)**" in texts(at)  # a public app opens on a bundle
    options = at.selectbox(key="dataset_choice").options
    assert "A folder on this computer…" not in options
    assert options[0] == "digits_tiny (published)"
    # a built-in dataset: no custom model, no cache location, no clearing
    at.selectbox(key="dataset_choice").set_value("digits").run()
    assert_clean(at)
    assert "Your own .keras model…" not in at.selectbox(key="backbone_choice").options
    keys = widget_keys(at)
    assert not keys & {"dataset_folder", "backbone_custom", "clear_cache", "clear_scope",
                        "runtime_choice"}  # the server decides the runtime
    assert not [c for c in at.code if "cache" in str(c.value)]  # no cache path shown
    assert "Shared by every visitor" in texts(at)
    # fine-tuning: hidden unless the operator allows it
    show(at, "Train a head")
    from core.heads import head_names, head_title

    heads = at.segmented_control(key="head_type").options
    fine_tuning = {head_title(h) for h in head_names(fine_tunes_backbone=True)}
    assert fine_tuning and heads and not fine_tuning & set(heads)
    show(at, "Fine-tune")  # its own view (issue 26) says it is not offered
    assert FINETUNE_SUBMIT not in [b.key for b in at.button]
    assert "not offered in this public Transfer Lens" in texts(at)
    # uploaders state the limits
    at.selectbox(key="dataset_choice").set_value("__upload__").run()
    assert "Up to 50 MB and 2,000 images per .zip, 4 megapixels per image" in texts(at)


FINETUNE_SUBMIT = "FormSubmitter:finetune_form-Start fine-tuning"


def test_public_fine_tuning_when_the_operator_allows_it(public, monkeypatch) -> None:
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC_FINETUNE", "1")
    at = run_app(ds="digits")
    show(at, "Fine-tune")  # fine-tuning has its own view (issue 26)
    from core.heads import head_names

    assert "finetune" in head_names(fine_tunes_backbone=True)
    assert FINETUNE_SUBMIT in [b.key for b in at.button]


def test_public_links_with_paths_are_ignored(public, tmp_path) -> None:
    (tmp_path / "a" / "x").mkdir(parents=True)
    # and (issue 27, redteam) digits int() refuses, and values crafted as markdown
    at = run_app(ds=str(tmp_path / "a"), bb="model.keras:dense", n="²", px="①",
                 m="x`[Sign in](https://evil.example)`", sel="[a](https://evil.example):1")
    assert_clean(at)  # n=² used to fail the whole page (int("²") in the sidebar)
    warnings = " ".join(w.value for w in at.warning)
    assert "no such built-in dataset or published bundle here" in warnings
    assert "not a known backbone" in warnings
    assert "`n=²`: the number of images is" in warnings and "`px=①`: an input size" in warnings
    assert "**digits_tiny (published)**" in texts(at)
    notes = [w.value for w in at.warning if w.value.startswith("Ignored the link's")]
    assert [n for n in notes if n.startswith("Ignored the link's `sel=")], notes
    for note in notes:  # the value stays in its code span; nothing outside it is a link
        assert note.count("`") == 2 and "](" not in note.split("`")[2], note


def test_forged_state_is_refused(public, tmp_path) -> None:
    """State a browser cannot set, set anyway: core's refusal is shown as a user error."""
    (tmp_path / "secret" / "cls").mkdir(parents=True)
    at = run_app()  # (the first run seeds the sidebar: forge after it)
    at.session_state["dataset_choice"] = "__upload__"
    at.session_state["extracted_zip"] = ("forged", str(tmp_path / "secret"), "secret.zip")
    at.run()
    assert not at.exception
    assert [e.value for e in at.error if PUBLIC_REFUSAL in e.value], [e.value for e in at.error]
    assert "Loading a folder or .zip from the server's disk" in at.error[0].value
    # a forged confirmation of clearing the cache draws nothing, and the call is refused
    at.session_state["clear_confirm"] = True
    at.session_state["dataset_choice"] = "bundle:digits_tiny"
    at.run()
    assert "clear_cache_confirm" not in widget_keys(at)


def _call_in_app(what: str, public) -> AppTest:
    """Run `what` (service calls) inside the app's error display, as a view would."""
    def script(what):
        import streamlit as st  # noqa: F401

        from core.backbones.registry import get_backbone  # noqa: F401
        from dashboard.services import cache, datasets  # noqa: F401
        from dashboard.ui import components

        with components.user_errors():
            exec(what)

    at = AppTest.from_function(script, args=(what,), default_timeout=TIMEOUT)
    at.run()
    return at


@pytest.mark.parametrize("what, refused", [
    ("cache.clear_cache()", "Clearing the cache"),
    ("datasets.full_dataset('/etc')", "Loading a folder or .zip from the server's disk"),
    ("get_backbone('model.keras:dense')", "A custom .keras model"),
    ("from core.heads import delete_head; delete_head(key='0' * 20)",
     "Deleting a head from the shared cache"),
])
def test_resources_refuse_in_public_mode(public, what, refused) -> None:
    at = _call_in_app(what, public)
    assert not at.exception
    assert len(at.error) == 1 and PUBLIC_REFUSAL in at.error[0].value, \
        [e.value for e in at.error]
    assert refused in at.error[0].value


def zip_of(files: dict[str, bytes], top: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"{top}/{name}", data)
    return buffer.getvalue()


def upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.selectbox(key="dataset_choice").set_value("__upload__").run()
    at.file_uploader(key="dataset_zip").set_value((name, data, "application/zip")).run()
    return at


def test_two_sessions_see_only_their_own_uploads(public, isolated_cache) -> None:
    first, second = run_app(), run_app()
    upload(first, "threes.zip", zip_of(digit_pngs(("3", "8"), per_class=8), "threes"))
    upload(second, "sevens.zip", zip_of(digit_pngs(("7", "1", "0"), per_class=6), "sevens"))
    assert_clean(first)
    assert_clean(second)
    assert "**threes** · 16 images · 2 classes" in texts(first)
    assert "**sevens** · 18 images · 3 classes" in texts(second)
    # the upload session's link says it is one; opened elsewhere it says why it shows another
    assert first.query_params["ds"] == "upload"
    elsewhere = run_app(**dict(first.query_params))
    assert ("Ignored the link's `ds=upload`: the link was made on a dataset uploaded in "
            "another session, and an upload is private to its session: upload the .zip here "
            "to see it") in " ".join(w.value for w in elsewhere.warning)
    assert "**threes**" not in texts(elsewhere)
    folders = {}
    for at in (first, second):
        token = at.session_state["_session_token"]
        folder = Path(at.session_state["extracted_zip"][1])
        assert folder.is_relative_to(isolated_cache / "public_uploads" / token)
        folders[token] = folder
    assert len(folders) == 2
    # each session's folder holds its upload only
    assert sorted(p.name for p in (isolated_cache / "public_uploads").iterdir()) == \
        sorted(folders)
    # a third session, forged to open the first's folder, is refused
    third = run_app()
    third.session_state["dataset_choice"] = "__upload__"
    third.session_state["extracted_zip"] = (
        "forged", str(folders[first.session_state["_session_token"]]), "threes.zip")
    third.run()
    assert not third.exception
    assert any("Another visitor's upload is not available" in e.value for e in third.error), \
        [e.value for e in third.error]
    assert "**threes**" not in texts(third)


def test_uploads_over_the_limits_are_refused_clearly(public, isolated_cache,
                                                     monkeypatch) -> None:
    import dataclasses

    from core.base import public as public_module

    real = public_module.policy
    small = dataclasses.replace(real(), max_upload_bytes=20_000, max_upload_images=10,
                                max_image_pixels=30 * 30)
    monkeypatch.setattr(public_module, "policy", lambda: small)
    at = run_app()
    token = at.session_state["_session_token"]
    before = {p for p in isolated_cache.rglob("*") if p.is_file()}

    def written() -> set:
        mine = isolated_cache / "public_uploads" / token
        return {p for p in isolated_cache.rglob("*") if p.is_file()} - before - \
            {p for p in mine.rglob("*")}

    # bytes: refused before anything is written
    upload(at, "big.zip", zip_of({"a/x.bin": os.urandom(30_000), "b/y.bin": b"1"}, "big"))
    assert not at.exception
    assert any("big.zip is 30 kB; this public Transfer Lens takes a .zip of up to 20 kB"
               in e.value for e in at.error), [e.value for e in at.error]
    assert not list((isolated_cache / "public_uploads" / token).rglob("*.bin"))
    # images: core counts the members before extracting
    upload(at, "many.zip", zip_of(digit_pngs(("3", "8"), per_class=6), "many"))
    assert any("exceeds the limit of 10 files" in e.value for e in at.error), \
        [e.value for e in at.error]
    # pixels: an image over the limit is skipped, and the sidebar says why
    files = digit_pngs(("3", "8"), per_class=4)
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(buffer, format="PNG")
    files["digit_3/huge.png"] = buffer.getvalue()
    upload(at, "pixels.zip", zip_of(files, "pixels"))
    assert "1 file skipped" in " ".join(w.value for w in at.warning)
    assert "**pixels** · 8 images" in texts(at)
    # uploads were written into this session's folder only (the rest: cache entries of the
    # values computed for the accepted upload)
    assert not [p for p in written() if "public_uploads" in p.parts or "uploads" in p.parts
                or p.suffix in (".png", ".bin", ".zip")]
    # all visitors' uploads together: over their budget with every folder in use (this
    # session's just now), another visitor's upload is refused with the wait, no path
    full = dataclasses.replace(small, max_public_upload_bytes=1)
    monkeypatch.setattr(public_module, "policy", lambda: full)
    other = upload(run_app(), "threes.zip", zip_of(digit_pngs(("3", "8"), per_class=4), "threes"))
    assert not other.exception
    refused = [e.value for e in other.error if "too many uploads" in e.value]
    assert refused and "try again in 10 minutes" in refused[0], [e.value for e in other.error]
    assert str(isolated_cache) not in refused[0] and "public_uploads" not in refused[0]
    assert "**threes**" not in texts(other) and "**pixels** · 8 images" in texts(at.run())


def head_rows(at: AppTest) -> list[str]:
    """The parameters line of each head listed under "Heads on these transfer values"."""
    return [m.value for m in at.markdown if "parameters" not in m.value and "C=" in m.value]


def test_visitors_list_and_start_from_only_their_own_heads(public, isolated_cache) -> None:
    """The heads cache is shared, but one visitor's heads never show up in, become active
    in, or get deleted from another visitor's session."""
    from core.heads import list_heads

    first, second = run_app(ds=BUNDLE), run_app(ds=BUNDLE)
    train(first, C=0.7)
    train(second, C=0.9)
    assert any("C=0.7" in row for row in head_rows(first))
    assert not any("C=0.9" in row for row in head_rows(first))
    assert any("C=0.9" in row for row in head_rows(second))
    assert not any("C=0.7" in row for row in head_rows(second))
    # a new visitor starts from the bundle's head, not from the best anyone trained
    third = run_app(ds=BUNDLE)
    show(third, "Train a head")
    # … and the list says so, not "Heads (0)" beside the head in use (issue 28 item 9)
    assert "Heads you trained here (0)" in texts(third)
    assert "None yet. The views use the published head, Logistic regression (" in texts(third)
    assert "Heads on these transfer values (0)" not in texts(third)
    # "deleting" in a public app only hides the head from the session's own list
    tv_key = first.session_state["tv_key"]
    mine = [h for h in list_heads(tv_key=tv_key) if h.params.get("C") == 0.7]
    assert len(mine) == 1
    first.button(key=f"head_delete_{mine[0].key}").click().run()
    first.button(key=f"head_delete_yes_{mine[0].key}").click().run()
    assert_clean(first)
    assert "Removed the active head from your list" in texts(first)
    assert not any("C=0.7" in row for row in head_rows(first))
    assert mine[0].key in {h.key for h in list_heads(tv_key=tv_key)}, "the file must stay"


# --- issue 27: no server internals on the page, per-session files ---

def test_public_unexpected_error_shows_an_incident_id_only(public, monkeypatch,
                                                         caplog) -> None:
    """A bug in a view: the visitor sees an incident id, the server log has the traceback
    under that id; neither the traceback nor the path in the message reaches the page."""
    import logging
    import re

    from streamlit import config

    from dashboard.views import projections

    def broken(*args, **kwargs):
        raise RuntimeError("/abs/path/secret")

    monkeypatch.setattr(projections, "project", broken)
    before = config.get_option("client.showErrorDetails")
    try:
        with caplog.at_level(logging.ERROR, logger="transfer_lens.dashboard"):
            at = run_app(ds=BUNDLE)
        assert config.get_option("client.showErrorDetails") == "none"
    finally:
        config.set_option("client.showErrorDetails", before)
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    incident = re.search(r"incident ([0-9a-f]{8})", shown)
    assert incident, shown
    page = shown + " " + texts(at) + " ".join(str(c.value) for c in at.code)
    assert "/abs/path/secret" not in page and "Traceback" not in page
    assert not at.expander  # no folded technical details either
    logged = [r for r in caplog.records if incident.group(1) in r.getMessage()]
    assert logged and logged[0].exc_info and "/abs/path/secret" in caplog.text


def test_local_unexpected_error_keeps_its_folded_details(on_bundles, monkeypatch) -> None:
    """Locally (one user, on their own machine) a bug still shows its type, message and the
    folded traceback, and Streamlit's error details are left as configured."""
    from streamlit import config

    from dashboard.views import projections

    def broken(*args, **kwargs):
        raise RuntimeError("/abs/path/secret")

    monkeypatch.setattr(projections, "project", broken)
    before = config.get_option("client.showErrorDetails")
    at = run_app(ds=BUNDLE)
    assert config.get_option("client.showErrorDetails") == before
    assert any("RuntimeError: /abs/path/secret" in e.value for e in at.error)
    assert [e for e in at.expander if "Technical details" in str(e.label)]
    assert "Traceback" in " ".join(str(c.value) for c in at.code)


def test_public_messages_show_no_cache_path(public, isolated_cache) -> None:
    """A user error naming a file under the cache shows it relative to the cache; one in a
    visitor's upload as inside their .zip (no token, no server folder)."""
    at = _call_in_app("from core.base.errors import TransferLensError; "
                      "from core.base.paths import cache_root; "
                      "raise TransferLensError(f'Cannot read image {cache_root()}/x/y.png')",
                      public)
    assert [e.value for e in at.error] == ["Cannot read image <cache>/x/y.png"]
    assert str(isolated_cache) not in texts(at)
    at = _call_in_app("from core.base.errors import TransferLensError; "
                      "from core.base.paths import cache_root; "
                      "raise TransferLensError(f'Cannot read image {cache_root()}/public_uploads"
                      "/tok3n-of-a-session/0123456789abcdef0123456789abcdef/my/img3.png')",
                      public)
    assert [e.value for e in at.error] == ["Cannot read image my/img3.png"]


BROKEN_PNG = b"\x89PNG\r\n\x1a\nbroken"


def test_public_upload_messages_name_paths_inside_the_zip(public, isolated_cache) -> None:
    """Every message an upload can produce, as a visitor meets it: paths are named as
    inside their .zip, and neither the cache path, the session's token nor the uploads
    folder appears anywhere on the page (the one-class upload used to show
    <cache>/public_uploads/<token>/…/bags_only)."""
    from tests.support.apptest import page_text
    from tests.support.data import huge_parquet_bytes

    at = run_app()
    token = at.session_state["_session_token"]
    two = digit_pngs(("3", "8"), per_class=2)
    deep = "/".join(["d"] * 40) + "/x.png"
    cases = [
        ("bags_only.zip", zip_of(digit_pngs(("3",), per_class=3), "bags_only"),
         "bags_only/ has only one class ('digit_3')"),
        ("flat.zip", zip_of({"a.png": two["digit_3/img_00.png"]}, "flat"),
         "The .zip has only one class ('flat')"),
        ("my.zip", zip_of({**two, "digit_9/img3.png": BROKEN_PNG}, "my"),
         "Class folder my/digit_9/ has no readable images (1 file(s) skipped, e.g. "
         "my/digit_9/img3.png: not an image"),
        ("t.zip", zip_of({**two, "targets.csv": b"path,y\nnope.png,1\n"}, "t"),
         "t/targets.csv, line 2: lists nope.png, but there is no such image in t/."),
        ("v.zip", zip_of({**two, "targets.csv": b"path,y\ndigit_3/img_00.png,abc\n"}, "v"),
         "v/targets.csv, line 2: 'y' is 'abc', not a number."),
        ("rows.zip", zip_of({**two, "targets.parquet": huge_parquet_bytes()}, "rows"),
         "rows/targets.parquet has 4,000,000 rows, over the limit of 1,004"),
        ("p.zip", zip_of({**two, "targets.parquet": b"PAR1garbagePAR1"}, "p"),
         "Cannot read p/targets.parquet: "),
        ("deep.zip", zip_of({deep: BROKEN_PNG}, "deep"), "is 41 folders deep, over the limit"),
        ("long.zip", zip_of({"a" * 300 + ".png": BROKEN_PNG}, "long"),
         "has a 304-byte file or folder name, over the limit of 255 bytes"),
        ("not.zip", b"hello", "The upload is not a readable .zip file"),
    ]
    for name, data, expected in cases:
        upload(at, name, data)
        assert not at.exception
        shown = [e.value for e in at.error]
        assert len(shown) == 1 and expected in shown[0], (name, shown)
        page = page_text(at)
        for secret in (str(isolated_cache), token, "public_uploads", "Traceback"):
            assert secret not in page, (name, secret, page)


def test_public_exports_are_per_session(public, isolated_cache) -> None:
    """Two visitors save a head each on the same values: each download holds its own head,
    written in its own session's folder (they used to share one export folder)."""
    from core.heads import load_head

    sessions = {0.7: run_app(ds=BUNDLE), 0.9: run_app(ds=BUNDLE)}
    for C, at in sessions.items():
        train(at, C=C)
    saved = {}
    for C, at in sessions.items():
        show(at, "Export")
        [create] = [b.key for b in at.button if b.key and b.key.startswith("create_head_")]
        at.button(key=create).click().run()
        assert_clean(at)
        [(_, path)] = [(what, p) for (_, what), p in at.session_state["exports"].items()
                       if what.startswith("head_")]
        token = at.session_state["_session_token"]
        assert Path(path).is_relative_to(isolated_cache / "public_uploads" / token)
        saved[C] = Path(path)
    assert saved[0.7] != saved[0.9]
    for C, path in saved.items():  # what each download button reads when clicked
        assert load_head(path).params["C"] == C


def test_public_exports_share_the_uploads_budget(public, isolated_cache, monkeypatch) -> None:
    """Exports are written beside the session's uploads, so they hold room in the same
    budget before they are written: with the demo full the export is refused (no file, no
    path) and the page goes on; a session keeps the exports of one set of values only."""
    import dataclasses

    from core.base import public as public_module

    real = public_module.policy
    at = run_app(ds=BUNDLE)
    show(at, "Export")
    token = at.session_state["_session_token"]
    exports = isolated_cache / "public_uploads" / token / "exports"
    stale = exports / "0123456789abcdef"  # this session's exports of other values
    stale.mkdir(parents=True)
    (stale / "old.npy").write_bytes(b"x" * 1000)
    monkeypatch.setattr(public_module, "policy",
                        lambda: dataclasses.replace(real(), max_public_upload_bytes=1))
    at.button(key="create_values_npy").click().run()
    assert not at.exception
    refused = [e.value for e in at.error if "too many uploads" in e.value]
    assert refused and "exported files" in refused[0], [e.value for e in at.error]
    assert str(isolated_cache) not in refused[0] and "public_uploads" not in refused[0]
    assert at.button(key="create_projection_pca_2")  # the rest of the page is still there
    # nothing written; the session's old exports went first (they are its own to free)
    assert not list(exports.rglob("*.npy")) and not stale.exists()
    monkeypatch.setattr(public_module, "policy", real)
    at.button(key="create_values_npy").click().run()
    assert_clean(at)
    [written] = list(exports.rglob("*.npy"))
    assert written.parent.parent == exports
    assert any(b.label.startswith("Download") for b in at.get("download_button"))


def test_public_uploads_are_pruned_by_last_use(public, isolated_cache) -> None:
    """Two uploads with file dates two hours old: the one its session still uses is kept,
    the one nobody used for over an hour is removed when a new visitor arrives; its owner
    is told to upload again (no path, no traceback). Replacing an upload removes the old."""
    import time

    def made_two_hours_ago(at: AppTest) -> Path:
        folder = isolated_cache / "public_uploads" / at.session_state["_session_token"]
        old = time.time() - 7200
        for path in [folder, *folder.rglob("*")]:
            os.utime(path, (old, old))
        return folder

    used, gone = run_app(), run_app()
    upload(used, "threes.zip", zip_of(digit_pngs(("3", "8"), per_class=8), "threes"))
    upload(gone, "sevens.zip", zip_of(digit_pngs(("7", "1"), per_class=6), "sevens"))
    kept, removed = made_two_hours_ago(used), made_two_hours_ago(gone)
    used.run()  # the session uses its upload: its lease is renewed
    assert_clean(used)
    run_app()  # a new visitor: stale uploads are pruned
    assert kept.is_dir() and not removed.exists()
    used.run()
    assert_clean(used)
    assert "**threes** · 16 images" in texts(used)
    # its owner comes back on another view (the uploader forgot the file): told, no path
    gone.file_uploader(key="dataset_zip").set_value(None).run()
    assert not gone.exception and not gone.error, [e.value for e in gone.error]
    note = " ".join(i.value for i in gone.sidebar.info)
    assert "sevens.zip is no longer on the server" in note and str(isolated_cache) not in note
    # replacing an upload removes the earlier one at once
    first = Path(used.session_state["extracted_zip"][1])
    used.file_uploader(key="dataset_zip").set_value(
        ("fours.zip", zip_of(digit_pngs(("4", "9"), per_class=5), "fours"),
         "application/zip")).run()
    settle(used)
    assert "**fours** · 10 images" in texts(used)
    assert not first.exists() and Path(used.session_state["extracted_zip"][1]).is_dir()


def test_public_server_upload_limit(public, monkeypatch, caplog) -> None:
    """The uploader states and enforces the public limit; a public server whose
    server.maxUploadSize is above it (it takes such files into memory first) is reported to
    the operator in the server log, with the fix."""
    import logging

    from streamlit import config

    from dashboard.services import public as public_service

    for server_mb, warned in ((1000, True), (50, False)):
        monkeypatch.setattr(public_service, "_warned_upload_size", False)
        before = config.get_option("server.maxUploadSize")
        config.set_option("server.maxUploadSize", server_mb)
        caplog.clear()
        try:
            with caplog.at_level(logging.WARNING, logger="transfer_lens.dashboard"):
                at = run_app()
        finally:
            config.set_option("server.maxUploadSize", before)
        fix = "STREAMLIT_SERVER_MAX_UPLOAD_SIZE=50"
        assert (fix in caplog.text) is warned, caplog.text
    at.selectbox(key="dataset_choice").set_value("__upload__").run()
    assert at.file_uploader(key="dataset_zip").proto.max_upload_size_mb == 50
    assert "Up to 50 MB" in texts(at)


def test_public_foreground_jobs_count_against_the_sessions_share(public,
                                                                 isolated_cache) -> None:
    """Training and the error-slices search run as this session's job: a session that
    already holds its share of the line is refused (with the reason; Error slices still
    draws its map), while another visitor trains as usual."""
    from core.base.jobs import job_gate
    from tests.support.apptest import TRAIN

    busy, other = run_app(ds=BUNDLE), run_app(ds=BUNDLE)
    gate, held = job_gate(), object()
    gate._owners[held] = busy.session_state["_session_token"]  # a job of busy's in line
    try:
        show(busy, "Error slices")
        searching = [w.value for w in busy.warning if "heavy job(s) of yours" in w.value]
        assert searching and "error slices of" in searching[0], texts(busy)
        assert busy.get("plotly_chart") and "A selection on the map is still scored" in \
            searching[0]
        show(busy, "Train a head")
        busy.button(key=TRAIN).click().run()
        train(other, C=0.5)
    finally:
        gate._owners.pop(held, None)
    assert not busy.exception
    refused = [e.value for e in busy.error if "heavy job(s) of yours" in e.value]
    assert refused and "training a logreg head" in refused[0], [e.value for e in busy.error]
    assert "Trained: test accuracy" in " ".join(t.value for t in other.toast)
    assert not gate._owners  # every finished job let go of its place


def test_forged_chart_events_get_a_note_not_an_error(public) -> None:
    """Selection events written by hand over the websocket (not a selection, a row past the
    data, NaN, text, a broken lasso, a cell past the classes; the core test tries more, such
    as 300,001 points: tests/test_selection.py) leave the visitor's selection as it was and say so, on every selecting chart: no
    incident, no error, none of the sender's text on the page. Each used to end in an
    incident id or Streamlit's own error."""
    from tests.support.apptest import select_on_chart

    def points(*rows) -> dict:
        return {"selection": {"points": [{"customdata": list(r)} for r in rows], "box": [],
                              "lasso": []}}

    note = "The chart sent a selection this page cannot use"
    at = run_app(ds=BUNDLE)
    select_on_chart(at, "projection_chart", points=[{"customdata": [3]}, {"customdata": [5]}])
    assert_clean(at)
    assert "Selection: 2 images" in texts(at)
    for event in (5, {"selection": "forged"}, points([10 ** 12]), points([float("nan")]),
                  points(["forged"]),
                  {"selection": {"points": [], "lasso": [{"x": [1, 2], "y": [1]}]}}):
        select_on_chart(at, "projection_chart", event=event)
        assert_clean(at)
        assert note in " ".join(w.value for w in at.warning), texts(at)
        assert "Selection: 2 images" in texts(at) and "forged" not in texts(at)
    show(at, "Error slices")
    select_on_chart(at, "slice_chart", event=points([600]))
    assert_clean(at)
    assert note in " ".join(w.value for w in at.warning)
    show(at, "Confusion")
    cell = [s.value for s in at.selectbox if s.label in ("True class", "Predicted class")]
    for event in (points([10, 0]), points([1])):
        select_on_chart(at, "confusion_chart", event=event)
        assert_clean(at)
        assert note in " ".join(w.value for w in at.warning)
        assert [s.value for s in at.selectbox
                if s.label in ("True class", "Predicted class")] == cell
    select_on_chart(at, "confusion_chart", event=points([2, 7, 1]))  # a real click still works
    assert_clean(at)
    assert [s.value for s in at.selectbox
            if s.label in ("True class", "Predicted class")] == [2, 7]


def test_public_sidebar_offers_only_datasets_core_loads(public, monkeypatch) -> None:
    """fashion_mnist_1m is over PublicPolicy.max_dataset_images: not offered, and a link to
    it opens the bundle with a warning (locally it is offered as before)."""
    from core.base.public import policy
    from core.datasets.registry import DATASETS

    too_large = [n for n, info in DATASETS.items()
                 if info.images and info.images > policy().max_dataset_images]
    assert "fashion_mnist_1m" in too_large
    at = run_app(ds="fashion_mnist_1m")
    assert_clean(at)
    options = at.selectbox(key="dataset_choice").options  # labels: "name (status)"
    assert not [o for o in options if o.split()[0] in too_large] and "digits" in options
    assert "too large for this public app" in " ".join(w.value for w in at.warning)
    assert "**digits_tiny (published)**" in texts(at)
    monkeypatch.delenv("TRANSFER_LENS_PUBLIC")
    local = run_app().selectbox(key="dataset_choice").options
    assert [o for o in local if o.split()[0] == "fashion_mnist_1m"], "|".join(local)


def test_public_subset_slider_stops_at_the_extraction_cap(public, monkeypatch,
                                                          tiny_backbone) -> None:
    """A link asking for more images than a public app extracts gets the cap, with a note
    that says so (not "all are embedded", then a refusal); the slider offers no more."""
    import dataclasses

    from core.base import public as rules

    capped = dataclasses.replace(rules.policy(), max_extract_images=1_000)
    monkeypatch.setattr(rules, "policy", lambda: capped)
    at = run_app(ds="digits", bb=tiny_backbone, n="99999999")
    assert_clean(at)
    notes = " ".join(w.value for w in at.warning)
    assert ("Ignored the link's `n=99999999`: this public app embeds at most 1,000 of a "
            "dataset's images, so 1,000 are embedded") in notes
    assert "all 1,797" not in notes and not at.error
    assert "Embedding a random 1,000 of 1,797 images (a public app's most)." in \
        [c.value for c in at.sidebar.caption]
    at = run_app(ds="digits", bb=tiny_backbone, n="all")
    assert not [s for s in at.sidebar.select_slider if s.label == "Images to embed"]
    assert not at.error


def test_public_visitors_do_not_see_each_others_corrections(public) -> None:
    """Issue 29: corrections belong to the visitor's session (its own namespace)."""
    from tests.support.apptest import reviewed, show_path, sidebar_texts

    def visitor() -> AppTest:
        at = run_app()
        assert_clean(at)
        return show_path(at, "review")

    def click(at: AppTest, key: str) -> None:
        at.button(key=key).click().run()
        assert_clean(at)

    first, second = visitor(), visitor()
    total = reviewed(first)[1]
    click(first, "review_accept")
    click(first, "review_exclude")
    assert reviewed(first) == (2, total, 2)
    assert "Corrections:" in sidebar_texts(first)
    second.run()
    assert reviewed(second) == (0, total, 0)
    assert "Corrections:" not in sidebar_texts(second)
    click(second, "review_keep")
    first.run()
    assert reviewed(first) == (2, total, 2)
