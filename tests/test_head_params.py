"""Every head and fine-tuning parameter is checked in core against its declared bounds, and
sizes that cannot fit in memory are refused before TensorFlow allocates anything."""

import json
import math

import pytest

from core.base.errors import ParameterError, ResourceLimitError, TransferLensError
from core.base.memory import out_of_memory_as_user_error
from core.base.params import ParamSpec
from core.finetune import FineTuneConfig
from core.finetune.evaluate import config_from_params
from core.heads import HEADS, default_head_params, parameter_specs, train_head
from tests.support.cli import run_cli
from tests.support.data import digits_pixels


def _out_of_range(spec: ParamSpec) -> list:
    """Values just outside each bound of a numeric spec."""
    step = 1 if spec.kind == "int" else 1e-9 * max(1.0, abs(spec.max or 1))
    bad = []
    if spec.min is not None:
        bad.append(spec.min if spec.min_exclusive else spec.min - step)
    if spec.max is not None:
        bad.append(spec.max if spec.max_exclusive else spec.max + step)
    return bad


def _cases(specs_by_owner):
    for owner, specs in specs_by_owner.items():
        for name, spec in specs.items():
            if spec.kind in ("int", "float"):
                for value in _out_of_range(spec):
                    yield pytest.param(owner, name, value, id=f"{owner}-{name}={value}")


HEAD_CASES = list(_cases({head: parameter_specs(head) for head in HEADS}))
FINE_TUNING_SPECS = FineTuneConfig.parameter_specs()  # derived from the dataclass


def test_every_parameter_is_declared():
    for head in HEADS:
        specs, defaults = parameter_specs(head), default_head_params(head)
        assert list(specs) == list(defaults)
        for name, spec in specs.items():
            assert spec.check(name, defaults[name]) == defaults[name]  # defaults pass
            assert spec.fields()["accepts"]
    fields = FineTuneConfig.__dataclass_fields__
    assert list(FINE_TUNING_SPECS) == list(fields)
    FineTuneConfig().validate()


@pytest.mark.parametrize("head,name,value", HEAD_CASES)
def test_head_parameter_out_of_range_names_its_bound(head, name, value):
    spec = parameter_specs(head)[name]
    with pytest.raises(ParameterError) as raised:
        HEADS[head].resolve_params({name: value})
    assert str(raised.value) == f"{name} must be {spec.describe()}, got {value!r}"


def test_the_reported_values_are_refused_with_their_bounds(capsys):
    mlp = HEADS["mlp"]
    with pytest.raises(ParameterError, match=r"^epochs must be an integer from 1 to 1000, got -5$"):
        mlp.resolve_params({"epochs": -5})
    with pytest.raises(ParameterError, match="batch_size must be an integer from 1 to 65536, got 0"):
        mlp.resolve_params({"batch_size": 0})
    with pytest.raises(ParameterError, match="hidden must be an integer from 1 to 100000"):
        mlp.resolve_params({"hidden": 10**9})
    # the CLI reports the refusal as one line and a JSON error of its own type, no traceback
    code, out = run_cli(["train", "--dataset", "digits", "--backbone", "pixels", "--limit", "200",
                         "--head", "mlp", "--param", "epochs=-5", "--json"], capsys)
    assert code == 2 and "Traceback" not in out.err
    assert out.err.strip().splitlines()[-1] == ("error: epochs must be an integer from 1 to "
                                                "1000, got -5")
    assert json.loads(out.out.strip().splitlines()[-1]) == {
        "error": "epochs must be an integer from 1 to 1000, got -5", "type": "ParameterError"}


@pytest.mark.parametrize("value", [True, "ten", 2.5, math.nan, math.inf, None])
def test_wrong_types_are_refused(value):
    with pytest.raises(ParameterError, match="epochs must be an integer"):
        HEADS["softmax"].resolve_params({"epochs": value})


def test_values_are_normalised_and_auto_is_accepted():
    assert HEADS["logreg"].resolve_params({"C": "auto"})["C"] == "auto"
    assert HEADS["logreg"].resolve_params({"C": 1})["C"] == 1.0
    assert HEADS["mlp"].resolve_params({"epochs": 3.0})["epochs"] == 3
    with pytest.raises(ParameterError, match='C must be a number above 0 .* or "auto", got 0'):
        HEADS["logreg"].resolve_params({"C": 0})
    with pytest.raises(ParameterError, match="unknown head 'logreg' parameter"):
        HEADS["logreg"].resolve_params({"epochs": 3})


def test_projection_choices_are_bounded_and_read_from_link_text():
    """t-SNE's and UMAP's chosen parameters are declared once (the sliders' bounds, the
    link's check) and bounded before a projection starts; a link's text is read as the
    kind (an exact float comes back exactly)."""
    from core.analysis.projection_params import chosen_specs
    from core.analysis.projections import resolve_params

    assert resolve_params("tsne", None)["perplexity"] == 30.0  # cache keys as before
    assert resolve_params("umap", {"min_dist": 0})["min_dist"] == 0.0
    with pytest.raises(ParameterError, match="perplexity must be an integer from 5 to 100, "
                                             "got 500"):
        resolve_params("tsne", {"perplexity": 500})
    spec = chosen_specs("umap")["min_dist"]
    assert spec.parse("min_dist", "0.15000000000000002") == 0.15000000000000002
    assert spec.parse("min_dist", " 1 ") == 1.0
    assert chosen_specs("umap")["n_neighbors"].parse("n_neighbors", "30") == 30
    for text in ("nan", "-inf", "1e400", "0x1", "", "1" * 80, "1.5"):
        with pytest.raises(ParameterError, match="min_dist must be a number from 0 to 1"):
            spec.parse("min_dist", text)
    with pytest.raises(ParameterError, match="an integer from 5 to 100, got 30.5"):
        chosen_specs("tsne")["perplexity"].parse("perplexity", "30.5")


@pytest.mark.parametrize("head,name,value", list(_cases({"finetune": FINE_TUNING_SPECS})))
def test_fine_tuning_parameter_out_of_range_names_its_bound(head, name, value):
    message = f"{name} must be {FINE_TUNING_SPECS[name].describe()}, got {value!r}"
    with pytest.raises(ParameterError) as raised:
        FineTuneConfig(**{name: value}).validate()
    assert str(raised.value) == message
    with pytest.raises(ParameterError):
        config_from_params({name: value})


def test_fine_tuning_choices_and_rules():
    with pytest.raises(ParameterError, match="schedule must be one of 'onecycle', 'cosine'"):
        FineTuneConfig(schedule="linear").validate()
    with pytest.raises(ParameterError, match="flip must be true or false"):
        FineTuneConfig(flip=1).validate()
    with pytest.raises(TransferLensError, match="top-K"):
        FineTuneConfig(unfreeze="top").validate()
    with pytest.raises(TransferLensError, match="top-K"):  # int("²") failed at the start
        FineTuneConfig(unfreeze="top-²").validate()
    assert FINE_TUNING_SPECS["crop_pad_fraction"].describe() == "a number from 0 to 0.5"
    assert FINE_TUNING_SPECS["image_size"].describe() == "an integer from 32 to 1024"


@pytest.fixture
def no_tensorflow_training(monkeypatch):
    """Any Keras fit fails the test: the refusal must come before TensorFlow allocates."""
    from core.heads import keras_heads

    def refuse(*args, **kwargs):
        raise AssertionError("Keras was asked to build or train")

    monkeypatch.setattr(keras_heads, "_keras", refuse)


def test_memory_cap_refuses_a_head_too_big_for_this_machine(monkeypatch, no_tensorflow_training):
    from core.base import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 1024**3)  # 1 GB
    tv = digits_pixels()
    with pytest.raises(ResourceLimitError) as raised:
        train_head(tv=tv, head="mlp", params={"hidden": 100_000}, use_cache=False)
    message = str(raised.value)
    assert "GB of memory" in message and "819.2 MB available" in message
    assert "lower hidden or batch_size" in message and "100000 hidden units" in message
    with pytest.raises(ParameterError, match="hidden must be an integer from 1 to 100000"):
        train_head(tv=tv, head="mlp", params={"hidden": 10**9}, use_cache=False)


def test_memory_estimate_grows_with_the_parameters():
    mlp = HEADS["mlp"]
    small = mlp(params={}).memory_estimate(n_rows=1000, dim=1280, num_classes=10)
    big = mlp(params={"hidden": 100_000}).memory_estimate(n_rows=1000, dim=1280, num_classes=10)
    assert 0 < small < 100 * 1024**2 < big  # the default MLP on Lite0 values: well under 100 MB


def test_fine_tuning_batch_too_big_is_refused(monkeypatch):
    from core.base import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 2 * 1024**3)
    FineTuneConfig().check_resources()  # the defaults fit in 2 GB
    with pytest.raises(ResourceLimitError, match="batches of 4096 images at 1024 px .* lower "
                                                 "batch_size or image_size"):
        FineTuneConfig(batch_size=4096, image_size=1024).check_resources()


def test_out_of_memory_errors_become_user_errors():
    class ResourceExhaustedError(Exception):  # TensorFlow's name, without TensorFlow
        pass

    with pytest.raises(ResourceLimitError, match="Training X ran out of memory; lower hidden"):
        with out_of_memory_as_user_error(what="Training X", lower="hidden"):
            raise ResourceExhaustedError("OOM when allocating tensor")
    with pytest.raises(KeyError):  # anything else passes through unchanged
        with out_of_memory_as_user_error(what="Training X", lower="hidden"):
            raise KeyError("other")


# Keys computed by the code before the config dataclasses (ead765b, train_head's key fields
# and run_key), so heads and fine-tuning runs cached then are found again
CACHED_BEFORE = {
    ("logreg", "default"): "580274cea60b4f99f36e", ("logreg", "custom"): "bd268099b1f3b53e4855",
    ("softmax", "default"): "8aa64f1d13cecaca6791", ("softmax", "custom"): "123f32818a5ecd38fcf8",
    ("mlp", "default"): "2de44379fec26dad9e35", ("mlp", "custom"): "9020ec352d6990b46261",
    ("finetune", "default"): "5c824c41014264d680fd", ("finetune", "custom"): "9d818acc3e11fe48d6db",
    ("ridge", "default"): "8e473e6b9a99a9f7caaf", ("ridge", "custom"): "db8d3eafff22bc0f8947",
    ("mlp_regressor", "default"): "a045b55c3ef0a1e0ed78",
    ("mlp_regressor", "custom"): "55ea2dab8bf2a34b207d",
}
CUSTOM = {"logreg": {"C": "auto", "max_iter": 50}, "softmax": {"epochs": 3, "learning_rate": 0.01},
          "mlp": {"hidden": 64, "dropout": 0.0, "batch_size": 32}, "finetune": {"run_dir": "/x/run"},
          "ridge": {"alpha": 2.5, "scaling": "standardize"},
          "mlp_regressor": {"loss": "huber", "huber_delta": 0.5, "hidden": 32, "epochs": 2}}


@pytest.mark.parametrize("head,which", sorted(CACHED_BEFORE))
def test_head_cache_keys_are_those_cached_before(head, which):
    from types import SimpleNamespace

    from core.heads.training import head_key

    cls = HEADS[head]
    target = (SimpleNamespace(name="size", key="targetkey") if cls.task == "regression"
              else None)
    params = cls.resolve_params(CUSTOM[head] if which == "custom" else {})
    assert head_key(tv_key="tvkey0123", head=head, params=params, target=target) == (
        CACHED_BEFORE[head, which])


def test_fine_tuning_run_keys_are_those_cached_before():
    from types import SimpleNamespace

    from core.finetune.run import run_key

    key = dict(dataset=SimpleNamespace(fingerprint="fp0123"), backbone="efficientnet_lite0",
               weights_id="w")
    assert run_key(**key, config=FineTuneConfig()) == "be3d69ab9a102f56b4d5"
    custom = FineTuneConfig(epochs=3, schedule="cosine", flip=False, erase=0.5, unfreeze="all",
                            start_size=0, peak_lr=1e-3)
    assert run_key(**key, config=custom) == "ec6dae5be93212607fda"


def test_a_config_declares_each_parameter_once():
    from dataclasses import dataclass

    from core.base.params import Params, param
    from core.heads import HeadModel, register_head

    @dataclass(frozen=True)
    class Base(Params):
        rate: float = param(0.5, min=0, max=1, help="a share")
        flag: bool = param(True, help="on or off")
        mode: str = param("a", choices=("a", "b"), help="a mode")

    @dataclass(frozen=True)
    class Child(Base):
        rate: float = 0.25  # a new default only: the parent's bounds and help stay

    assert [spec.kind for spec in Base.parameter_specs().values()] == ["float", "bool", "choice"]
    assert Child.parameter_specs() == Base.parameter_specs()
    assert Child.defaults() == {"rate": 0.25, "flag": True, "mode": "a"}
    assert Child.check({"mode": "b"}, owner="x") == {"rate": 0.25, "flag": True, "mode": "b"}
    with pytest.raises(ParameterError, match="rate must be a number from 0 to 1, got 2"):
        Child.check({"rate": 2}, owner="x")
    with pytest.raises(ParameterError, match=r"unknown x parameter\(s\) \['nope'\]"):
        Child.check({"nope": 1}, owner="x")

    @dataclass(frozen=True)
    class Undeclared(Params):
        plain: int = 3

    with pytest.raises(ValueError, match="Undeclared.plain has no spec"):
        Undeclared.parameter_specs()

    class OldStyle(HeadModel):  # the declarations this replaced are refused, not ignored
        name = "test_old_style"
        defaults = {"k": 1}

    class BadDefault(HeadModel):
        name = "test_bad_default"

        @dataclass(frozen=True)
        class config(Params):  # noqa: N801  (a class attribute holding the config)
            k: int = param(0, min=1, max=5, help="k")

    with pytest.raises(ValueError, match="declare its parameters as `config`"):
        register_head(OldStyle)
    with pytest.raises(ParameterError, match="k must be an integer from 1 to 5, got 0"):
        register_head(BadDefault)
    assert "test_old_style" not in HEADS and "test_bad_default" not in HEADS
