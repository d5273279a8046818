"""Test-only entry point: registers the tiny test backbone, then runs the real dashboard.

`streamlit run tests/support/dashboard_entry.py` behaves exactly like
`streamlit run dashboard/app.py` plus one extra backbone (`tiny_test_cnn`), so browser
tests run in seconds without weights.
"""

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.tiny_backbone import register_tiny  # noqa: E402

register_tiny()
runpy.run_path(str(ROOT / "dashboard" / "app.py"), run_name="__main__")
