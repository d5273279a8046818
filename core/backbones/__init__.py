"""Backbones: ImageNet-pretrained feature extractors, offline and online."""

from core.backbones.registry import BackboneSpec, get_backbone, list_backbones

__all__ = ["BackboneSpec", "get_backbone", "list_backbones"]
