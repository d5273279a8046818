"""Test-only entry point: registers the tiny test backbone, then runs the real dashboard.

`streamlit run tests/support/dashboard_entry.py` behaves exactly like
`streamlit run dashboard/app.py` plus one extra backbone (`tiny_test_cnn`), so browser
tests run in seconds without weights, and minus the background compile of UMAP's numba
kernels that a PCA map starts (no browser test draws a UMAP map; a UMAP fit would still
compile them itself): about 7 s of CPU per server that only competed with the test.
"""

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import core.analysis.projections as projections  # noqa: E402
from tests.support.tiny_backbone import register_tiny  # noqa: E402

register_tiny()
projections._warm_up = lambda: None  # the warm-up thread starts, and ends at once
runpy.run_path(str(ROOT / "dashboard" / "app.py"), run_name="__main__")
