"""Backbones: ImageNet-pretrained feature extractors, offline and online."""

from core.backbones.registry import get_backbone, list_backbones
from core.backbones.spec import BackboneSpec

__all__ = ["BackboneSpec", "get_backbone", "list_backbones"]
