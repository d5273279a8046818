"""Inspect takes an image's sample id (the name shown everywhere), an index only as a
fallback (issue 28, item 5)."""

import numpy as np
import pytest

from core.base.errors import ParameterError
from core.features.sample_lookup import MAX_ID_CHARS, sample_index

IDS = np.array(["train/00024", "train/00025", "test/7", "12"])


def test_an_id_wins_over_an_index_and_hash_is_an_index() -> None:
    assert sample_index(IDS, " test/7 ") == 2
    assert sample_index(IDS, "12") == 3  # an id that looks like a number is still the id
    assert sample_index(IDS, "#1") == 1 and sample_index(IDS, "0") == 0


@pytest.mark.parametrize("text, message", [
    ("", "1–512 characters, got 0"),
    ("x" * (MAX_ID_CHARS + 1), f"got {MAX_ID_CHARS + 1}"),
    ("#4", "index 4 is past the last image (3)"),
    ("train/99999", "no image here has the id “train/99999”"),
    # str.isdigit() takes these, int() does not: a message, not an unexpected error
    ("²", "no image here has the id “²”"),
    ("#①", "no image here has the id “#①”"),
])
def test_bad_input_names_itself_and_the_fix(text, message) -> None:
    with pytest.raises(ParameterError, match="Fix:") as caught:
        sample_index(IDS, text)
    assert message in str(caught.value)
