"""The projection parameters a user chooses (the app's sliders and its link, the CLI's
options): each one's default, bounds and help declared once. `core.analysis.projections`
takes its defaults from here and checks every value against these bounds before any work.
PCA has none to choose."""

from __future__ import annotations

from dataclasses import dataclass

from core.base.params import ParamSpec, Params, param


@dataclass(frozen=True)
class TsneChoice(Params):
    perplexity: int = param(30, min=5, max=100,
                            help="roughly how many neighbours each point keeps close")


@dataclass(frozen=True)
class UmapChoice(Params):
    n_neighbors: int = param(15, min=5, max=100,
                             help="larger values keep more global structure")
    min_dist: float = param(0.1, min=0.0, max=1.0,
                            help="smaller values pack clusters tighter")


DIMS = ParamSpec("choice", choices=(2, 3), help="the map's dimensions")
COMPARE = ParamSpec("bool", help="the map before and after fine-tuning, side by side")

CHOICES: dict[str, type[Params] | None] = {"pca": None, "tsne": TsneChoice, "umap": UmapChoice}
# every chosen parameter's name, across methods (each names one parameter of one method)
CHOSEN_NAMES = tuple(name for choice in CHOICES.values() if choice is not None
                     for name in choice.parameter_specs())


def chosen_specs(method: str) -> dict[str, ParamSpec]:
    """name → ParamSpec of the parameters a user chooses for `method` ({} for PCA)."""
    choice = CHOICES.get(method)
    return {} if choice is None else choice.parameter_specs()


def chosen_defaults(method: str) -> dict:
    """name → default of the parameters a user chooses for `method`."""
    choice = CHOICES.get(method)
    return {} if choice is None else choice.defaults()
