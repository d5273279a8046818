"""Issue 29 in a real browser: a planted-noise folder (digits 3 / 5 / 8, a third of train
and val filed under the wrong class, test clean) is uploaded as a .zip, the review queue is
walked for 20 images with the keyboard and clicks, the head is retrained and before/after
shown, and the cleaned zip's labels are checked against the corrections in core's store."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest

from tests.support.browser import (ARTIFACTS, app_server, chromium_page, idle, shot,
                                   wait_for_text)
from tests.support.data import planted_noise_zip

pytestmark = pytest.mark.browser
WALK = 20
# what each of the 20 steps does: mostly the keyboard (A accept, K keep, X exclude),
# some clicks; a mix so every decision kind reaches the store
STEPS = ["a"] * 6 + ["click-accept"] + ["a"] * 10 + ["click-keep", "k", "x"]


def click(page, key: str) -> None:
    """Click the button with widget key `key` (Streamlit marks its container st-key-KEY)."""
    page.locator(f".st-key-{key} button").first.click()
    idle(page)


def press(page, key: str, expected: str) -> None:
    """Press `key` on the page until `expected` shows: a key pressed while the page redraws
    the buttons can be lost (then nothing changed, and pressing again is safe)."""
    for _ in range(3):
        page.locator("[data-testid='stMain'] p").first.click()  # focus off any input
        page.keyboard.press(key)
        idle(page)
        try:
            wait_for_text(page, expected, timeout=10)
            return
        except AssertionError:
            continue
    wait_for_text(page, expected, timeout=1)


def test_review_retrain_and_cleaned_zip(tmp_path) -> None:
    from core.corrections import read_corrections_file

    archive = tmp_path / "noisy.zip"
    moved = planted_noise_zip(archive)
    # no dataset to start with (a folder that is not there): the upload is the first one
    with app_server(tmp_path, str(tmp_path / "none")) as url, \
            chromium_page(f"{url}/review") as page:
        # upload the folder as a .zip in the sidebar (the session stays on Review)
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.locator("[data-testid='stSelectbox']").first.click()
        page.get_by_role("option", name="Upload a .zip of class folders…").click()
        idle(page)
        sidebar.locator("input[type='file']").set_input_files(str(archive))
        wait_for_text(page, r"noisy · 90 images", timeout=180)
        wait_for_text(page, "check the data quality first")
        click(page, "review_to_quality")
        click(page, "find_issues")
        wait_for_text(page, r"suspected label errors", timeout=180)
        idle(page)
        click(page, "issues_to_review")
        total = int(wait_for_text(page, r"0 of (\d+) reviewed").group(1))
        assert total >= WALK, f"only {total} suspected label errors to review"
        shot(page, "corrections_1_queue")

        for step, action in enumerate(STEPS, start=1):
            # the card redraws after the heading: wait for it rather than read it once
            wait_for_text(page, rf"Image {step} of {total}\b", timeout=30)
            if action.startswith("click-"):
                click(page, f"review_{action.removeprefix('click-')}")
                wait_for_text(page, rf"\b{step} of {total} reviewed")
            else:
                press(page, action, rf"\b{step} of {total} reviewed")
        wait_for_text(page, rf"Image {min(WALK + 1, total)} of {total}\b", timeout=30)
        back = min(WALK, total - 1)  # back: the last decision is shown again
        press(page, "b", rf"Image {back} of {total}")
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        shot(page, "corrections_2_walked")
        sidebar_text = sidebar.inner_text()
        relabelled = STEPS.count("a") + STEPS.count("click-accept")
        assert f"Corrections: {relabelled} relabelled, 1 excluded" in sidebar_text, sidebar_text

        click(page, "retrain_compare")
        wait_for_text(page, "Before → after", timeout=180)
        idle(page)
        metrics = dict(zip(
            page.locator("[data-testid='stMetricLabel']").all_inner_texts(),
            page.locator("[data-testid='stMetricValue']").all_inner_texts()))
        before = float(metrics["Before · test labels as given"].rstrip("%"))
        after = float(metrics["After · test labels as given"].rstrip("%"))
        print(f"test accuracy on the clean test labels: before {before}% after {after}%")
        shot(page, "corrections_3_compare")

        with page.expect_download() as download:
            page.locator(".st-key-cleaned_zip button").first.click()
        cleaned = zipfile.ZipFile(io.BytesIO(download.value.path().read_bytes()))

    stores = list((tmp_path / "cache" / "corrections").glob("*/local.jsonl"))
    assert len(stores) == 1, stores
    _, records, _ = read_corrections_file(stores[0])
    assert len(records) == WALK
    assert sorted({r.action for r in records}) == ["exclude", "keep", "relabel"]
    labels = pd.read_csv(io.BytesIO(cleaned.read("labels.csv")), dtype=str)
    by_id = dict(zip(labels["sample_id"], labels["label"]))
    assert len(by_id) == 3 * 30 - 1  # 90 images, one excluded
    for record in records:
        if record.action == "exclude":
            assert record.sample_id not in by_id
        else:
            expected = record.label if record.action == "relabel" else record.original
            assert by_id[record.sample_id] == expected, record
    for member in labels["path"]:  # the class folders hold what labels.csv says
        assert member in cleaned.namelist()
    assert all(path.split("/")[0] == label for path, label in zip(labels["path"],
                                                                  labels["label"]))
    fixed = sum(by_id.get(member.removeprefix("noisy/")) == true
                for member, true in moved.items())
    print(f"planted errors fixed by the walk: {fixed} of {len(moved)}")
    assert fixed >= WALK // 2
    (ARTIFACTS / "corrections_result.txt").write_text(
        f"before {before}% after {after}% fixed {fixed} of {len(moved)}\n")
