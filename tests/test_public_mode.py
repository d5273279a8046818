"""Public mode: every refusal is enforced by core itself (a forged request gets it too), and
uploads stay inside the public uploads folder within the stated limits."""

from __future__ import annotations

import pytest

from core.base.errors import DatasetError
from core.base.paths import cache_root
from core.base.public import PublicModeError, policy, uploads_root
from tests.support.data import dataset_members, write_zip


@pytest.fixture
def public(monkeypatch):
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC", "1")
    monkeypatch.delenv("TRANSFER_LENS_PUBLIC_FINETUNE", raising=False)
    assert policy().enabled


def test_private_by_default(monkeypatch):
    monkeypatch.delenv("TRANSFER_LENS_PUBLIC", raising=False)
    assert not policy().enabled


def test_server_folders_and_zip_paths_are_refused(public, tmp_path):
    from core.datasets.registry import load_dataset

    folder = tmp_path / "server_images"
    (folder / "a").mkdir(parents=True)
    archive = write_zip(tmp_path / "data.zip", dataset_members())
    for path in (folder, archive, tmp_path / "missing"):
        with pytest.raises(PublicModeError, match="server's disk"):
            load_dataset(name=str(path))
    assert load_dataset(name="digits").name == "digits"  # built-ins stay available


def test_uploads_extract_only_into_the_uploads_folder(public, tmp_path):
    from core.datasets.registry import load_dataset
    from core.datasets.zip_import import extract_zip_dataset

    archive = write_zip(tmp_path / "flowers.zip", dataset_members())
    with pytest.raises(PublicModeError, match="own folder"):
        extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()
    session = uploads_root(cache_root()) / "session-a"
    root = extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=session)
    dataset = load_dataset(name=str(root))  # an upload of this app: allowed
    assert dataset.class_names == ("daisy", "roses") and len(dataset) == 8


def test_upload_limits_apply(public, tmp_path, monkeypatch):
    from core.base import public as public_module
    from core.datasets.zip_import import extract_zip_dataset

    small = public_module.PublicPolicy(enabled=True, allow_fine_tuning=False,
                                       max_upload_bytes=10_000_000, max_upload_images=3)
    monkeypatch.setattr(public_module, "policy", lambda: small)
    archive = write_zip(tmp_path / "flowers.zip", dataset_members())
    session = uploads_root(cache_root()) / "session-b"
    with pytest.raises(DatasetError, match="limit of 3 files"):
        extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=session)
    assert not any(session.rglob("*.jpg"))  # nothing half-extracted is left


def test_uploads_together_stay_within_their_budget(public, tmp_path, monkeypatch):
    """Many sessions' uploads cannot fill the disk until the hourly prune: over the budget a
    new upload first removes the folders least recently used, never one used within the
    protection window, then is refused with the wait and no server path."""
    import dataclasses
    import os
    import time
    import zipfile

    from core.base import public as public_module
    from core.datasets.uploads import LAST_USE, session_uploads_dir
    from core.datasets.zip_import import extract_zip_dataset

    archive = write_zip(tmp_path / "flowers.zip", dataset_members())
    with zipfile.ZipFile(archive) as listing:  # what one upload unpacks (no hidden entries)
        size = sum(i.file_size for i in listing.infolist()
                   if "__MACOSX" not in i.filename and ".DS_Store" not in i.filename)
    rules = dataclasses.replace(policy(), max_public_upload_bytes=int(3.5 * size),
                                upload_protect_seconds=600)
    monkeypatch.setattr(public_module, "policy", lambda: rules)

    def upload(session: str, *, idle_seconds: float = 0.0) -> Path:
        folder = session_uploads_dir(session_id=session)
        extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=folder)
        last_use = time.time() - idle_seconds
        os.utime(folder / LAST_USE, (last_use, last_use))
        return folder

    idle = upload("session-idle", idle_seconds=1800)  # gone quiet, within the hour's lease
    reading = upload("session-read", idle_seconds=120)
    looking = upload("session-look", idle_seconds=300)
    fresh = upload("session-new")  # over budget: the idle one makes room
    assert not idle.exists() and reading.is_dir() and looking.is_dir() and any(fresh.iterdir())
    with pytest.raises(PublicModeError) as refused:  # everyone left is in use
        upload("session-late")
    message = str(refused.value)
    assert "The demo holds too many uploads right now" in message
    assert "try again in 5 minutes" in message  # when "session-look" leaves its window
    assert str(cache_root()) not in message and "public_uploads" not in message
    assert not any((uploads_root(cache_root()) / "session-late").rglob("*.jpg"))
    assert reading.is_dir() and looking.is_dir()


def test_exports_hold_room_in_the_uploads_budget(public, monkeypatch):
    """An export into a session's folder holds its largest size in the budget uploads use:
    an idle session's folder makes room, a full demo refuses before a byte is written."""
    import dataclasses
    import os
    import time
    from types import SimpleNamespace

    from core.base import public as public_module
    from core.datasets.uploads import LAST_USE, session_uploads_dir
    from core.serving.export import MODEL_EXPORT_BYTES, export_bytes_bound, public_export_room

    tv = SimpleNamespace(n=20_000, dim=1280)
    needed = export_bytes_bound(tv=tv)
    assert needed == 20_000 * (1280 + 256 + 16) * 4 > MODEL_EXPORT_BYTES
    assert export_bytes_bound(tv=SimpleNamespace(n=10, dim=8)) == MODEL_EXPORT_BYTES
    rules = dataclasses.replace(policy(), max_public_upload_bytes=needed + 1000,
                                upload_protect_seconds=600)
    monkeypatch.setattr(public_module, "policy", lambda: rules)
    idle = session_uploads_dir(session_id="session-idle")
    (idle / "data.bin").write_bytes(b"x" * 2000)
    long_ago = time.time() - 1800
    os.utime(idle / LAST_USE, (long_ago, long_ago))
    mine = session_uploads_dir(session_id="session-export") / "exports" / "abc"
    with public_export_room(tv=tv, folder=mine):
        assert not idle.exists()  # the idle visitor's files made room
    busy = session_uploads_dir(session_id="session-busy")
    (busy / "data.bin").write_bytes(b"x" * 2000)
    with pytest.raises(PublicModeError, match="uploads and exported files together"):
        with public_export_room(tv=tv, folder=mine):
            raise AssertionError("nothing may be written")
    assert busy.is_dir()


def test_custom_models_cache_location_and_clearing_are_refused(public, tmp_path):
    from core.backbones.registry import get_backbone
    from core.base.cache import clear_cache

    with pytest.raises(PublicModeError, match="custom .keras model"):
        get_backbone("/etc/model.keras:dense")
    with pytest.raises(PublicModeError, match="Clearing the cache"):
        clear_cache()
    with pytest.raises(PublicModeError, match="cache location"):
        cache_root(tmp_path / "mine")
    assert cache_root() == cache_root(str(cache_root()))  # the operator's own location is fine


def test_fine_tuning_needs_the_operators_permission(public, monkeypatch):
    from core.datasets.registry import load_dataset
    from core.finetune import FineTuneConfig, fine_tune

    dataset = load_dataset(name="digits")
    with pytest.raises(PublicModeError, match="TRANSFER_LENS_PUBLIC_FINETUNE"):
        fine_tune(dataset=dataset, config=FineTuneConfig(epochs=1))
    from core.base.public import refuse_fine_tuning_if_public

    monkeypatch.setenv("TRANSFER_LENS_PUBLIC_FINETUNE", "1")
    refuse_fine_tuning_if_public()  # allowed now: no refusal


def test_the_fine_tuning_estimate_is_refused_too(public, monkeypatch):
    """It builds the network and trains real steps: refused by core before any of that."""
    from core.datasets.registry import load_dataset
    from core.finetune import FineTuneConfig
    from core.finetune import estimate as estimate_module

    def measured(**kwargs):
        raise AssertionError("measured in a public app")

    monkeypatch.setattr(estimate_module, "_measure", measured)
    dataset = load_dataset(name="digits")
    for measure in (True, False):
        with pytest.raises(PublicModeError, match="Estimating fine-tuning time is not "
                                                  "available.*TRANSFER_LENS_PUBLIC_FINETUNE"):
            estimate_module.estimate_fine_tune(dataset=dataset, backbone="efficientnet_lite0",
                                               config=FineTuneConfig(epochs=1), measure=measure)
    monkeypatch.setenv("TRANSFER_LENS_PUBLIC_FINETUNE", "1")  # the operator allows it
    assert estimate_module.estimate_fine_tune(
        dataset=dataset, backbone="efficientnet_lite0", config=FineTuneConfig(epochs=1),
        measure=False) is None  # nothing kept yet, and nothing measured


def test_images_over_the_pixel_limit_are_skipped_with_the_reason(public, tmp_path, monkeypatch):
    import io

    import numpy as np
    from PIL import Image

    from core.base import public as public_module
    from core.datasets.registry import load_dataset
    from core.datasets.zip_import import extract_zip_dataset

    tight = public_module.PublicPolicy(enabled=True, allow_fine_tuning=False,
                                       max_image_pixels=100 * 100)
    monkeypatch.setattr(public_module, "policy", lambda: tight)
    members = dataset_members()
    big = io.BytesIO()
    Image.fromarray(np.zeros((200, 150, 3), np.uint8)).save(big, format="PNG")
    members["flowers/daisy/huge.png"] = big.getvalue()
    root = extract_zip_dataset(zip_path_or_fileobj=write_zip(tmp_path / "f.zip", members),
                               dest_dir=uploads_root(cache_root()) / "session-c")
    dataset = load_dataset(name=str(root))
    assert len(dataset) == 8
    assert [s.path for s in dataset.skipped if "too large" in s.reason] == ["daisy/huge.png"]


def test_each_session_has_its_own_uploads_and_stale_ones_are_pruned(public, tmp_path):
    import os
    import time

    from core.datasets.uploads import (prune_uploads, remove_session_uploads,
                                       session_uploads_dir)
    from core.datasets.zip_import import extract_zip_dataset

    archive = write_zip(tmp_path / "flowers.zip", dataset_members())
    mine = session_uploads_dir(session_id="session-aaaa")
    theirs = session_uploads_dir(session_id="session-bbbb")
    assert mine != theirs and mine.parent == theirs.parent == uploads_root(cache_root())
    extract_zip_dataset(zip_path_or_fileobj=archive, dest_dir=mine)
    assert any(mine.rglob("*.jpg")) and not any(theirs.rglob("*.jpg"))
    with pytest.raises(ValueError):
        session_uploads_dir(session_id="../../etc")
    old = time.time() - 7200
    for path in [mine, *mine.rglob("*")]:
        os.utime(path, (old, old))
    assert prune_uploads(max_age_seconds=3600) == 1  # mine is stale, theirs is fresh
    assert not mine.exists() and theirs.exists()
    remove_session_uploads(session_id="session-bbbb")
    assert not theirs.exists()


def test_uploads_are_pruned_by_their_sessions_last_use(public, tmp_path):
    """File dates say when an upload was made; the lease says whether it is still used."""
    import os
    import time

    from core.datasets.uploads import (LAST_USE, prune_uploads, session_uploads_dir,
                                       touch_session_uploads)

    old = time.time() - 7200
    folders = {}
    for session_id in ("session-used", "session-gone"):
        folder = session_uploads_dir(session_id=session_id)
        (folder / "x.png").write_bytes(b"x")
        for path in [folder, *folder.rglob("*")]:
            os.utime(path, (old, old))
        folders[session_id] = folder
    touch_session_uploads(session_id="session-used")
    assert time.time() - (folders["session-used"] / LAST_USE).stat().st_mtime < 5
    touch_session_uploads(session_id="session-never")  # no folder: none is made
    assert not (folders["session-used"].parent / "session-never").exists()
    assert prune_uploads() == 1
    assert folders["session-used"].is_dir() and not folders["session-gone"].exists()
