"""How a service reports progress without drawing: the ui layer passes a Report in.

dashboard.ui.progress.REPORT draws it (progress bars, spinners, the view's frame); SILENT
draws nothing (scripts, background threads).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, ContextManager, Iterator, Protocol


class Report(Protocol):
    def progress(self, label: str, *, starting: str | None = None,
                 replace_view: bool = False) -> ContextManager[Callable[[Any], None]]:
        """A context that yields a callback for core Progress snapshots. `replace_view`: a
        long computation, shown alone in place of the view (call kept() after)."""

    def busy(self, text: str) -> ContextManager[None]:
        """A short computation without measured progress."""

    def kept(self) -> None:
        """A computation's result is kept: the view is drawn again if it was replaced."""


class _Silent:
    @contextmanager
    def progress(self, label: str, *, starting: str | None = None,
                 replace_view: bool = False) -> Iterator[Callable[[Any], None]]:
        yield lambda progress: None

    @contextmanager
    def busy(self, text: str) -> Iterator[None]:
        yield

    def kept(self) -> None:
        return None


SILENT: Report = _Silent()
