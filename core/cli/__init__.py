"""The command line, `python -m core`: `main` parses the arguments and runs one command.

Modules: `args` (what every command shares), then one per command group: `catalog`
(datasets, backbones, cache), `extraction`, `analysis` (project, label-issues, neighbors,
separability), `training` (train, fine-tuning included).
"""

from core.cli.main import main

__all__ = ["main"]
