"""One default for label issues, whoever asks: the CLI's defaults are core's, and a front end
that passes its bigger display graph (15 neighbours) ranks exactly like the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from core.analysis.label_issues import (DEFAULT_CROSS_FIT_FOLDS, DEFAULT_NEIGHBORS,
                                        find_label_issues)
from core.analysis.neighbors import knn_graph
from core.cli import main
from core.cli.main import build_parser
from core.heads import DEFAULT_HEAD, train_head
from tests.support.data import digits_pixels

DISPLAY_NEIGHBORS = 60  # a graph bigger than core's default voting neighbourhood


def test_cli_defaults_are_cores():
    parser, _ = build_parser()
    args = parser.parse_args(["label-issues"])
    assert (args.neighbors, args.cross_fit, args.head) == (
        DEFAULT_NEIGHBORS, DEFAULT_CROSS_FIT_FOLDS, DEFAULT_HEAD)


def test_a_bigger_graph_ranks_like_the_cli(capsys):
    code = main(["label-issues", "--dataset", "digits", "--backbone", "pixels", "--top", "100000",
                 "--json"])
    assert code == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert cli["neighbors"] == DEFAULT_NEIGHBORS and cli["flagged"] > 0

    tv = digits_pixels()  # the same cached values the CLI used
    head = train_head(tv=tv, head=DEFAULT_HEAD, cross_fit_folds=DEFAULT_CROSS_FIT_FOLDS)
    assert head.cache == "hit"  # the CLI's head
    graph = knn_graph(tv=tv, n_neighbors=DISPLAY_NEIGHBORS)
    assert graph.n_neighbors_ == DISPLAY_NEIGHBORS > DEFAULT_NEIGHBORS
    app = find_label_issues(tv=tv, probabilities=head.probabilities, knn=graph)
    assert list(app["sample_id"]) == [row["sample_id"] for row in cli["top"]]
    assert list(app["score"]) == pytest.approx([row["score"] for row in cli["top"]])  # JSON rounds

    every = dict(tv=tv, probabilities=head.probabilities, include_all=True)
    pd.testing.assert_frame_equal(find_label_issues(**every, knn=graph),
                                  find_label_issues(**every))
    # a smaller graph (the app's 15-NN display graph) is replaced by the cached one
    pd.testing.assert_frame_equal(find_label_issues(**every, knn=knn_graph(tv=tv, n_neighbors=15)),
                                  find_label_issues(**every))
    # the slicing matters: all 60 neighbours voting rank differently
    assert not find_label_issues(**every, n_neighbors=DISPLAY_NEIGHBORS).equals(
        find_label_issues(**every))



def test_relabel_is_backed_only_where_model_and_neighbours_agree():
    from core.analysis.label_issues import relabel_is_backed

    probabilities = np.array([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.4, 0.3, 0.3]])
    votes = np.array([[0.0, 0.9, 0.1], [0.1, 0.2, 0.7], [0.0, 0.9, 0.1]])
    assert list(relabel_is_backed(probabilities=probabilities, votes=votes,
                                  suggested=np.array([1, 1, 1]))) == [True, False, False]
