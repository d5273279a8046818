"""Work functions for the background-job tests."""

from __future__ import annotations

import time

from core.base.progress import Progress


def endless(progress):
    """Work that reports forever, until a report stops it."""
    done = 0
    while True:
        done += 1
        progress(Progress("step", done, 0))
        time.sleep(0.01)
