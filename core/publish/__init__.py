"""Publishable bundles: a demo's precomputed data as open files, and its static HTML share.

- `core.publish.writer.publish_bundle`: compute (through core's caches) and write a bundle.
- `open_bundle`, `list_bundles`: read bundles back, verified, without TensorFlow.
- `core.publish.html.write_html`: one self-contained HTML page of a bundle's projection.

Only the reader is imported here, so `import core.publish` stays light.
"""

from core.publish.bundle import Bundle, list_bundles, open_bundle

__all__ = ["Bundle", "list_bundles", "open_bundle"]
