"""The Ray engine on a simulated 2-node cluster (one CPU each): the same cache entry as the
local engine, a killed worker or driver, Ray missing, and batch prediction on both engines."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from core.base.errors import DependencyError, TransferLensError
from core.datasets import load_dataset
from core.features.ray_engine import DatasetRecipe, RayEngine
from core.features.transfer_values import compute_transfer_values
from tests.support.data import make_folder

ray = pytest.importorskip("ray")  # requirements-dev.txt installs it, so this always runs
ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
STORE = 100 * 2**20  # object store per node: small, the machine is shared


@pytest.fixture(scope="module")
def cluster():
    """Two nodes of one CPU each on this machine; the test process is the driver."""
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True,
                    head_node_args={"num_cpus": 1, "object_store_memory": STORE,
                                    "include_dashboard": False})
    nodes.add_node(num_cpus=1, object_store_memory=STORE)
    nodes.wait_for_nodes()
    ray.init(address=nodes.address, logging_level="ERROR", log_to_driver=False)
    yield nodes
    ray.shutdown()
    nodes.shutdown()


def digits_recipe(limit=None):
    return DatasetRecipe(name="digits", limit=limit)


def local_values(dataset, backbone, tmp_path, **kwargs):
    return compute_transfer_values(dataset=dataset, backbone=backbone,
                                   cache_dir=tmp_path / "local", **kwargs)


@pytest.mark.slow  # a 2-node Ray cluster
def test_digits_on_two_nodes_equal_the_local_engine_under_the_same_key(cluster, tiny_backbone,
                                                                        tmp_path):
    recipe = digits_recipe()
    data = recipe.open()
    engine = RayEngine(workers=2, recipe=recipe)
    seen = []
    remote = compute_transfer_values(dataset=data, backbone=tiny_backbone, chunk_size=256,
                                     engine=engine, progress=seen.append)
    local = local_values(data, tiny_backbone, tmp_path)
    assert remote.cache == "miss" and remote.images_computed == len(data) == 1797
    assert remote.key == local.key
    assert np.abs(np.asarray(remote.values) - np.asarray(local.values)).max() <= 1e-4
    for name in ("labels", "splits", "sample_ids"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))
    same = {k: v for k, v in remote.manifest.items() if k not in ("created", "files")}
    assert same == {k: v for k, v in local.manifest.items() if k not in ("created", "files")}
    # both nodes worked, and the driver reported rate and ETA as chunks arrived
    nodes = {worker.split("/")[0] for worker in engine.stats}
    assert len(nodes) == 2, engine.stats
    assert sum(record["images"] for record in engine.stats.values()) == 1797
    assert seen[-1].done == 1797 and any(p.rate > 0 and p.eta_seconds is not None for p in seen)
    # every reader opens it like a local entry
    again = compute_transfer_values(dataset=data, backbone=tiny_backbone)
    assert again.cache == "hit" and again.images_computed == 0


@pytest.mark.slow  # a 2-node Ray cluster
def test_folder_on_two_nodes_equals_the_local_engine(cluster, tiny_backbone, tmp_path):
    make_folder(tmp_path / "pets", np.random.default_rng(0), per_class=12)
    data = load_dataset(name=str(tmp_path / "pets"))
    engine = RayEngine(workers=2)  # a folder needs no recipe: workers get paths
    remote = compute_transfer_values(dataset=data, backbone=tiny_backbone, image_size=24,
                                     chunk_size=8, batch_size=4, engine=engine)
    local = local_values(data, tiny_backbone, tmp_path, image_size=24, chunk_size=8,
                         batch_size=4)
    assert remote.key == local.key and remote.values.shape == (36, 16)
    assert np.abs(np.asarray(remote.values) - np.asarray(local.values)).max() <= 1e-4
    assert remote.manifest["skipped_files"] == local.manifest["skipped_files"] != []


@pytest.mark.slow  # a 2-node Ray cluster
def test_a_file_a_worker_cannot_read_stops_the_run_naming_it(cluster, tiny_backbone, tmp_path):
    make_folder(tmp_path / "pets", np.random.default_rng(1), per_class=12)
    data = load_dataset(name=str(tmp_path / "pets"))
    gone = tmp_path / "pets" / "owls" / "3.png"
    gone.unlink()  # after the driver loaded the folder: as if a node did not see it
    message = (r"A Ray worker \(.+\) failed on chunk \d: Cannot read image "
               rf"{re.escape(str(gone))}: file not found")
    with pytest.raises(TransferLensError, match=message):
        compute_transfer_values(dataset=data, backbone=tiny_backbone, chunk_size=8, batch_size=4,
                                engine=RayEngine(workers=2))


@pytest.mark.slow  # a 2-node Ray cluster
def test_killed_worker_is_replaced_and_the_values_are_identical(cluster, tiny_backbone,
                                                               tmp_path):
    recipe = digits_recipe()
    data = recipe.open()
    engine = RayEngine(workers=2, recipe=recipe)
    killed = []

    def kill_a_worker(progress):
        if progress.done and not killed:  # the first chunk is in: both actors are running
            pid = int(next(iter(engine.stats)).split("/")[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    remote = compute_transfer_values(dataset=data, backbone=tiny_backbone, image_size=48,
                                     chunk_size=64, engine=engine, progress=kill_a_worker)
    assert killed and not _alive(killed[0])
    local = local_values(data, tiny_backbone, tmp_path, image_size=48)
    assert remote.key == local.key
    assert np.abs(np.asarray(remote.values) - np.asarray(local.values)).max() <= 1e-4
    # each chunk arrived once: the killed actor's chunks were redone, none was doubled
    assert sum(record["images"] for record in engine.stats.values()) == len(data)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow  # a 2-node Ray cluster
def test_killed_driver_resumes_from_finished_chunks(cluster, tiny_backbone, isolated_cache,
                                                    tmp_path):
    driver = textwrap.dedent(f"""
        import os, signal, ray
        from tests.support.tiny_backbone import register_tiny
        from core.features.ray_engine import DatasetRecipe, RayEngine
        from core.features.transfer_values import compute_transfer_values
        name = register_tiny()
        ray.init(address={cluster.address!r}, logging_level="ERROR", log_to_driver=False)
        recipe = DatasetRecipe(name="digits")
        def progress(p):
            if p.done >= 3 * 128:  # three chunks are saved, others are in flight
                os.kill(os.getpid(), signal.SIGKILL)
        compute_transfer_values(dataset=recipe.open(), backbone=name, chunk_size=128,
                                engine=RayEngine(workers=2, recipe=recipe), progress=progress)
    """)
    env = {**os.environ, "TRANSFER_LENS_CACHE": str(isolated_cache), "PYTHONPATH": str(ROOT)}
    child = subprocess.run([sys.executable, "-c", driver], env=env, cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert child.returncode == -9, child.stderr[-2000:]
    work = list((isolated_cache / "transfer_values").glob("*.partial"))
    assert len(work) == 1
    saved = len(list(work[0].glob("chunk_*.npy")))
    assert 3 <= saved < 15  # 1797 images are 15 chunks of 128

    recipe = digits_recipe()
    data = recipe.open()
    resumed = compute_transfer_values(dataset=data, backbone=tiny_backbone, chunk_size=999,
                                      engine=RayEngine(workers=2, recipe=recipe))
    finished_rows = saved * 128  # the last chunk (1797 = 14 × 128 + 5) is never among 3..14
    assert resumed.images_computed == len(data) - finished_rows
    assert not work[0].exists()
    local = local_values(data, tiny_backbone, tmp_path)
    assert resumed.key == local.key
    assert np.abs(np.asarray(resumed.values) - np.asarray(local.values)).max() <= 1e-4


@pytest.mark.slow  # a 2-node Ray cluster
def test_array_dataset_without_a_recipe_is_refused(cluster, tiny_backbone):
    data = load_dataset(name="digits").limited(limit=100)
    with pytest.raises(TransferLensError, match="re-open a built-in dataset by name"):
        compute_transfer_values(dataset=data, backbone=tiny_backbone, engine=RayEngine())


def test_ray_missing_is_a_clear_error(monkeypatch, tiny_backbone, capsys):
    from core.cli.main import main

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    monkeypatch.setitem(sys.modules, "ray.data", None)
    data = load_dataset(name="digits").limited(limit=100)
    with pytest.raises(DependencyError, match=r"pip install 'ray\[data\]"):
        compute_transfer_values(dataset=data, backbone=tiny_backbone,
                                engine=RayEngine(recipe=DatasetRecipe(name="digits", limit=100)))
    assert main(["extract", "--dataset", "digits", "--limit", "100", "--backbone", tiny_backbone,
                 "--engine", "ray", "--json"]) == 2
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert error["type"] == "DependencyError" and "--engine ray" in error["error"]
    # the local engine does not need Ray
    assert main(["extract", "--dataset", "digits", "--limit", "100", "--backbone", tiny_backbone,
                 "--json"]) == 0


@pytest.mark.slow  # a fresh Python process that starts Ray
def test_unreachable_address_is_a_clear_error(isolated_cache):
    result = subprocess.run(
        [sys.executable, "-m", "core", "extract", "--dataset", "digits", "--limit", "50",
         "--engine", "ray", "--address", "127.0.0.1:9", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "TRANSFER_LENS_CACHE": str(isolated_cache)})
    assert result.returncode == 2, result.stderr[-2000:]
    error = json.loads(result.stdout.strip().splitlines()[-1])
    assert "Cannot reach the Ray cluster at 127.0.0.1:9" in error["error"]
    assert "ray start --head" in error["error"]


@pytest.mark.slow  # a 2-node Ray cluster
def test_predict_on_both_engines_agrees_and_matches_the_head(cluster, tiny_backbone, tmp_path):
    import pandas as pd

    from core.base.splits import split_indices
    from core.heads import train_head
    from core.serving.batch_predict import predict_to_parquet
    from core.serving.export import export_end_to_end_model

    data = load_dataset(name="digits")
    tv = compute_transfer_values(dataset=data, backbone=tiny_backbone, image_size=32)
    trained = train_head(tv=tv, head="logreg", params={"C": 10.0})
    model = export_end_to_end_model(head=trained, backbone=tiny_backbone, image_size=32,
                                    path=tmp_path / "digits.keras")
    test = split_indices(data.splits, "test")
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    for i in test:  # the test images as files, as a user would have them
        Image.fromarray(data.images.get(int(i))[..., 0]).save(folder / f"{i:04d}.png")

    tables = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.parquet"
        summary = predict_to_parquet(model_path=model, images=str(folder), out=out,
                                     engine=engine, workers=2, batch_size=32,
                                     class_names=data.class_names, top_k=3)
        assert summary["n"] == len(test) and summary["kind"] == "classification"
        tables[engine] = pd.read_parquet(out)
    local, remote = tables["local"], tables["ray"]
    assert list(local.columns) == ["path", "predicted", "predicted_class", "top1_class",
                                   "top1_probability", "top2_class", "top2_probability",
                                   "top3_class", "top3_probability"]
    assert local["path"].tolist() == remote["path"].tolist()
    assert local["predicted"].tolist() == remote["predicted"].tolist()
    np.testing.assert_allclose(local["top1_probability"], remote["top1_probability"], atol=1e-5)
    rows = [int(os.path.basename(p)[:4]) for p in local["path"]]
    accuracy = float((local["predicted"].to_numpy() == data.labels[rows]).mean())
    assert accuracy == pytest.approx(trained.metrics["test_accuracy"], abs=1e-9)
    # a listed file that is not there: one line naming it, from either engine
    listing = tmp_path / "list.txt"
    missing = folder / "missing.png"
    listing.write_text(f"{local['path'][0]}\n{missing}\n")
    for engine in ("local", "ray"):
        with pytest.raises(TransferLensError, match=rf"Cannot read image {re.escape(str(missing))}"
                                                    r": file not found"):
            predict_to_parquet(model_path=model, images=str(listing), out=tmp_path / "x.parquet",
                               engine=engine, workers=1)


@pytest.mark.slow  # a 2-node Ray cluster
def test_uri_list_and_file_prefix_on_two_nodes_equal_the_local_engine(cluster, tiny_backbone,
                                                                      tmp_path):
    make_folder(tmp_path / "pets", np.random.default_rng(2), per_class=12)
    (tmp_path / "pets" / "dogs" / "broken.jpg").unlink()  # a URI list names only images
    files = sorted((tmp_path / "pets").rglob("*.png"))
    listing = tmp_path / "pets.txt"  # file:// URIs and plain paths, mixed as a user might
    listing.write_text("\n".join(f"file://{f}" if i % 2 else str(f) for i, f in enumerate(files)))
    for source in (str(listing), f"file://{tmp_path / 'pets'}/"):
        data = load_dataset(name=source)
        engine = RayEngine(workers=2)
        remote = compute_transfer_values(dataset=data, backbone=tiny_backbone, image_size=24,
                                         chunk_size=8, batch_size=4, engine=engine)
        local = local_values(data, tiny_backbone, tmp_path, image_size=24, chunk_size=8,
                             batch_size=4)
        assert remote.key == local.key and remote.values.shape == (36, 16)
        assert remote.images_computed == local.images_computed == 36
        assert np.abs(np.asarray(remote.values) - np.asarray(local.values)).max() <= 1e-4
        assert sum(record["images"] for record in engine.stats.values()) == 36
    # the same images as a folder give the same values (one decoder, one preprocessing)
    folder = local_values(load_dataset(name=str(tmp_path / "pets")), tiny_backbone, tmp_path,
                          image_size=24, batch_size=4)
    assert np.abs(np.asarray(folder.values) - np.asarray(remote.values)).max() <= 1e-4


@pytest.mark.slow  # a 2-node Ray cluster
def test_a_uri_gone_after_listing_stops_the_ray_run_naming_it(cluster, tiny_backbone, tmp_path):
    make_folder(tmp_path / "pets", np.random.default_rng(3), per_class=12)
    # the one unreadable file is the one that goes: with the broken JPEG too, whichever
    # chunk a worker finished first decided the message
    (tmp_path / "pets" / "dogs" / "broken.jpg").unlink()
    data = load_dataset(name=f"file://{tmp_path / 'pets'}")
    gone = tmp_path / "pets" / "cats" / "5.png"
    gone.unlink()  # after the driver listed it: as if a node did not see it
    with pytest.raises(TransferLensError, match=rf"failed on chunk \d: Cannot read image "
                                                rf"file://{re.escape(str(gone))}: file not found"):
        compute_transfer_values(dataset=data, backbone=tiny_backbone, chunk_size=8, batch_size=4,
                                engine=RayEngine(workers=2))


def test_cpus_per_worker_on_the_cli(capsys, tiny_backbone):
    from core.cli.main import main

    assert main(["extract", "--dataset", "digits", "--limit", "50", "--backbone", tiny_backbone,
                 "--engine", "ray", "--cpus-per-worker", "0", "--json"]) == 2
    error = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "cpus_per_worker must be positive, got 0.0" in error["error"]


@pytest.mark.slow  # a Ray cluster
def test_onnxruntime_on_ray_equals_tensorflow_locally_for_extraction_and_predict(
        cluster, tiny_backbone, tmp_path):
    """The runtime choice reaches the Ray workers (one actor each, to stay lean): their ONNX
    Runtime values and predictions equal TensorFlow's in this process, under the same key."""
    import pandas as pd

    from core.heads import train_head
    from core.serving.batch_predict import predict_to_parquet
    from core.serving.export import export_end_to_end_model

    pytest.importorskip("onnxruntime")
    recipe = digits_recipe(limit=200)
    data = recipe.open()
    remote = compute_transfer_values(dataset=data, backbone=tiny_backbone, chunk_size=200,
                                     engine=RayEngine(workers=1, recipe=recipe),
                                     runtime="onnxruntime")
    local = local_values(data, tiny_backbone, tmp_path, runtime="tensorflow")
    assert remote.runtime.label == "onnxruntime f32" and remote.manifest["runtime"] == "onnxruntime"
    assert remote.key == local.key
    assert np.abs(np.asarray(remote.values) - np.asarray(local.values)).max() <= 1e-4

    trained = train_head(tv=local, head="logreg", params={"C": 10.0})
    model = export_end_to_end_model(head=trained, backbone=tiny_backbone, image_size=32,
                                    path=tmp_path / "digits.keras")
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    for i in range(16):
        Image.fromarray(data.images.get(i)[..., 0]).save(folder / f"{i:04d}.png")
    tables = {}
    for engine, runtime in (("local", "tensorflow"), ("ray", "onnxruntime")):
        out = tmp_path / f"{engine}.parquet"
        summary = predict_to_parquet(model_path=model, images=str(folder), out=out,
                                     engine=engine, workers=1, runtime=runtime,
                                     cache_dir=tmp_path / "converted")
        assert summary["runtime"] == runtime
        tables[engine] = pd.read_parquet(out)
    assert tables["local"]["predicted"].tolist() == tables["ray"]["predicted"].tolist()
    np.testing.assert_allclose(tables["local"]["top1_probability"],
                               tables["ray"]["top1_probability"], atol=1e-5)
