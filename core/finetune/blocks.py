"""Which of the backbone's blocks `unfreeze="top-K"` trains, known before any work starts."""

from __future__ import annotations

from core.backbones.lite_specs import has_lite_structure
from core.base.errors import TransferLensError
from core.finetune.config import FineTuneConfig


def backbone_blocks(backbone: str, *, image_size: int) -> list[str]:
    """The backbone's blocks, input to output: the EfficientNet-Lite port's from its table,
    any other backbone's from its built model (names like "block3b_…")."""
    from core.backbones.efficientnet_lite import block_names, variant_block_names

    if has_lite_structure(backbone):
        return variant_block_names(backbone)
    from core.backbones.registry import get_backbone

    return block_names(get_backbone(backbone).build(input_size=image_size))


def top_blocks(blocks: list[str], *, backbone: str, unfreeze: str) -> list[str]:
    """The blocks `unfreeze` ("top-K") trains; an error naming K's bound when the backbone
    has no blocks we know or fewer than K."""
    if not blocks:
        raise TransferLensError(f"{backbone} has no blocks named the way Transfer Lens knows, "
                                f"so '{unfreeze}' cannot pick its top blocks; use unfreeze all "
                                f"(--unfreeze all).")
    k = int(unfreeze[4:])
    if k > len(blocks):
        raise TransferLensError(f"unfreeze '{unfreeze}' asks for more blocks than {backbone} "
                                f"has: K must be at most {len(blocks)} (top-{len(blocks)}), or "
                                f"use unfreeze all.")
    return blocks[len(blocks) - k:] if k else []


def check_unfreeze(*, backbone: str, config: FineTuneConfig) -> None:
    """TransferLensError when `config.unfreeze` cannot pick its blocks of `backbone` (before
    any extraction or training)."""
    if config.unfreeze != "all":
        top_blocks(backbone_blocks(backbone, image_size=config.image_size), backbone=backbone,
                   unfreeze=config.unfreeze)
