"""`write_html`: one self-contained HTML page of a bundle — the 2-D projection coloured by
class, thumbnails on hover-free selection (box/lasso → gallery), no server, no network.

Kept small: coordinates travel as base64 float32 (decoded into Float32Array), labels as
class indices, thumbnails as the bundle's PNG sprite sheets (one data URI each, cropped
per tile with CSS background-position); plotly.js is inlined from plotly's Python package.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np

from core.base.atomic import atomic_write_bytes
from core.publish.bundle import Bundle

GALLERY_MAX = 500  # thumbnails drawn per selection; the count always covers all of them
THUMB_SCALE = 2  # tiles are drawn at twice their size (28 px sources stay legible)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def page_data(bundle: Bundle, *, method: str) -> dict:
    """What the page's script reads: coordinates, labels, ids, classes, sprite geometry."""
    labels = np.asarray(bundle.labels)
    label_type = "uint8" if len(bundle.class_names) <= 256 else "uint16"
    thumbs = bundle.manifest["thumbnails"]
    metrics = bundle.manifest["head"]["metrics"]
    return {
        "name": bundle.name, "dataset": bundle.manifest["dataset"]["name"],
        "backbone": bundle.manifest["backbone"], "image_size": bundle.manifest["image_size"],
        "n": bundle.n, "classes": list(bundle.class_names),
        "head": bundle.manifest["head"]["title"], "test_accuracy": metrics.get("test_accuracy"),
        "methods": list(bundle.methods), "method": method,
        "coords": {m: _b64(np.ascontiguousarray(bundle.projection(m), "<f4").tobytes())
                   for m in bundle.methods},
        "labels": _b64(labels.astype(label_type).tobytes()), "label_type": label_type,
        "ids": [str(s) for s in bundle.sample_ids],
        "tile": thumbs["tile"], "grid": thumbs["grid"], "sheets": len(thumbs["sheets"]),
        "gallery_max": GALLERY_MAX, "scale": THUMB_SCALE,
    }


def sprite_css(bundle: Bundle) -> str:
    """One CSS class per sprite sheet holding it as a data URI."""
    thumbs = bundle.manifest["thumbnails"]
    width = thumbs["grid"] * thumbs["tile"][1] * THUMB_SCALE
    rules = [f".s{i}{{background-image:url(data:image/png;base64,"
             f"{_b64((bundle.path / name).read_bytes())});background-size:{width}px auto}}"
             for i, name in enumerate(thumbs["sheets"])]
    return "\n".join(rules)


def render_html(bundle: Bundle, *, method: str = "umap") -> str:
    """The page as text."""
    from plotly.offline import get_plotlyjs

    if method not in bundle.methods:
        raise ValueError(f"bundle {bundle.name} has no {method!r} projection; "
                         f"it has {', '.join(bundle.methods)}")
    # "</" inside a <script> would end it early; JSON allows the escaped form
    data = json.dumps(page_data(bundle, method=method), separators=(",", ":")).replace("</", "<\\/")
    title = html.escape(f"{bundle.name} · {bundle.manifest['dataset']['name']} · "
                        f"{bundle.manifest['backbone']}")
    return (TEMPLATE.replace("%TITLE%", title).replace("%SPRITES%", sprite_css(bundle))
            .replace("%PLOTLY%", get_plotlyjs()).replace("%DATA%", data))


def write_html(*, bundle: Bundle, path: str | Path, method: str = "umap") -> Path:
    """Write the page for `bundle` to `path` (atomically) and return the path."""
    path = Path(path)
    atomic_write_bytes(path, render_html(bundle, method=method).encode("utf-8"))
    return path


TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%TITLE%</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;padding:12px 18px;color:#222}
header{display:flex;gap:18px;align-items:baseline;flex-wrap:wrap}
h1{font-size:1.2rem;margin:0}
#facts{color:#555;font-size:.9rem}
#plot{width:100%;height:620px}
#count{font-weight:600;margin:8px 0}
#gallery{display:flex;flex-wrap:wrap;gap:6px}
figure{margin:0;width:min-content;font-size:.72rem;text-align:center}
.tile{image-rendering:pixelated;background-repeat:no-repeat;border:1px solid #ccc}
figcaption{white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
%SPRITES%
</style>
<script>%PLOTLY%</script>
</head><body>
<header><h1 id="title"></h1><span id="facts"></span>
<label>Projection <select id="method"></select></label></header>
<div id="plot"></div>
<div id="count">Drag a box (or a lasso, from the toolbar) over the points to see their images.</div>
<div id="gallery"></div>
<script type="application/json" id="data">%DATA%</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
function bytes(b64) {
  const text = atob(b64), out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out.buffer;
}
const coords = {};
for (const m of D.methods) coords[m] = new Float32Array(bytes(D.coords[m]));
const labels = D.label_type === "uint8" ? new Uint8Array(bytes(D.labels))
                                        : new Uint16Array(bytes(D.labels));
const members = D.classes.map(() => []);  // per class, its samples' indices
labels.forEach((c, i) => members[c].push(i));
const names = {pca: "PCA", tsne: "t-SNE", umap: "UMAP"};
document.getElementById("title").textContent = D.name;
document.getElementById("facts").textContent =
  `${D.n.toLocaleString()} images of ${D.dataset} · ${D.backbone} @ ${D.image_size} px` +
  (D.test_accuracy == null ? "" : ` · ${D.head}: ${(100 * D.test_accuracy).toFixed(1)} % test accuracy`);
const select = document.getElementById("method");
for (const m of D.methods) select.add(new Option(names[m] || m, m, false, m === D.method));

function traces(method) {
  const xy = coords[method];
  return D.classes.map((name, c) => ({
    type: "scattergl", mode: "markers", name: name,
    x: members[c].map(i => xy[2 * i]), y: members[c].map(i => xy[2 * i + 1]),
    text: members[c].map(i => D.ids[i]),
    hovertemplate: "%{text}<br>%{fullData.name}<extra></extra>",
    marker: {size: D.n > 5000 ? 3 : 5, opacity: 0.8},
  }));
}
// a fresh layout per projection: plotly keeps a box in layout.selections, and the old box
// would grey out the new projection's points
const layout = () => ({dragmode: "select", hovermode: "closest", selections: [],
                       margin: {l: 50, r: 10, t: 36, b: 30},
                       legend: {itemsizing: "constant", title: {text: "class"}},
                       xaxis: {zeroline: false, automargin: true},
                       yaxis: {zeroline: false, automargin: true}});
const plot = document.getElementById("plot");
Plotly.newPlot(plot, traces(select.value), layout(), {displaylogo: false, responsive: true});

function tile(index) {
  const per = D.grid * D.grid, sheet = Math.floor(index / per), pos = index % per;
  const row = Math.floor(pos / D.grid), col = pos % D.grid;
  const [h, w] = D.tile, s = D.scale;
  const div = document.createElement("div");
  div.className = `tile s${sheet}`;
  div.style.width = `${w * s}px`; div.style.height = `${h * s}px`;
  div.style.backgroundPosition = `${-col * w * s}px ${-row * h * s}px`;
  return div;
}
function showGallery(indices) {
  const gallery = document.getElementById("gallery"), count = document.getElementById("count");
  gallery.replaceChildren();
  window.selectedIndices = indices;
  if (!indices.length) { count.textContent = "No images selected."; return; }
  const shown = indices.slice(0, D.gallery_max);
  count.textContent = `${indices.length.toLocaleString()} image${indices.length === 1 ? "" : "s"} selected` +
    (shown.length < indices.length ? ` (showing the first ${shown.length})` : "");
  for (const i of shown) {
    const figure = document.createElement("figure"), caption = document.createElement("figcaption");
    figure.dataset.index = i;
    figure.title = `${D.ids[i]} · ${D.classes[labels[i]]}`;
    caption.textContent = D.classes[labels[i]];
    figure.append(tile(i), caption);
    gallery.append(figure);
  }
}
plot.on("plotly_selected", event => {
  window.lastSelection = event || null;
  const points = event ? event.points : [];
  showGallery(points.map(p => members[p.curveNumber][p.pointIndex]));
});
plot.on("plotly_deselect", () => showGallery([]));
select.addEventListener("change", () => {
  Plotly.react(plot, traces(select.value), layout());
  showGallery([]);
});
</script>
</body></html>
"""
