"""Public mode: core.base.public decides and enforces; the app hides and explains."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from core.base import public as rules_module
from core.base.public import PublicModeError
from dashboard.services import allocator
from dashboard.state import session


ROOT = Path(__file__).resolve().parent.parent.parent  # the repository


def scrub_paths(text: str) -> str:
    """`text` with the cache root and the repository root made relative ("<cache>/…",
    "<app>/…"), and a path in a visitor's upload named as inside their .zip (the session's
    token and the server's folders dropped): defence in depth for a public page (core
    already words its messages relative to what the visitor gave). The longer root goes
    first (one may hold the other)."""
    from core.base.paths import cache_root
    from core.base.public import UPLOADS_DIR

    cache = cache_root()  # absolute forms only: a relative "cache" is also a plain word
    roots = {str(cache.resolve()): "<cache>", str(cache.absolute()): "<cache>",
             str(ROOT): "<app>"}
    for root in sorted(roots, key=len, reverse=True):
        text = text.replace(root, roots[root])
    # <cache>/public_uploads/<token>/<content key>/bags/x.png → bags/x.png
    text = re.sub(rf"<cache>/{UPLOADS_DIR}/[^/\s'\"]+/(?:[0-9a-f]{{32}}/)?", "", text)
    return re.sub(rf"<cache>/{UPLOADS_DIR}(?:/[^/\s'\"]+)?", "your upload", text)


def visible(message: str) -> str:
    """A user message as shown: in a public app without the server's paths."""
    return scrub_paths(message) if is_public() else message


def public_policy():
    """The public policy in force (core.base.public.PublicPolicy; read from the environment)."""
    return rules_module.policy()  # looked up per call (tests replace it)


def is_public() -> bool:
    return public_policy().enabled


def megabytes(size: int) -> str:
    if size < 1e6:
        return f"{size / 1e3:,.0f} kB"
    return f"{size / 1e6:,.1f} MB" if size < 1e9 else f"{size / 1e9:,.1f} GB"


def largest_upload_mb() -> int:
    """The largest upload a public app states (MB): what the public server's
    `server.maxUploadSize` should be, so it refuses larger files before taking them in."""
    rules = public_policy()
    return max(1, -(-max(rules.max_upload_bytes, rules.max_inspect_bytes) // 1_000_000))


def deploy_environment() -> dict[str, str]:
    """The environment a public server is started with (docs/public-mode.md; the public
    benchmarks start theirs so): public mode, the server refusing uploads above the largest
    stated limit, Streamlit's error details hidden, and two malloc arenas for the script
    threads (dashboard/services/allocator.py)."""
    return {"TRANSFER_LENS_PUBLIC": "1",
            "STREAMLIT_SERVER_MAX_UPLOAD_SIZE": str(largest_upload_mb()),
            "STREAMLIT_CLIENT_SHOW_ERROR_DETAILS": "none",
            "MALLOC_ARENA_MAX": str(allocator.ARENAS)}


_warned_upload_size = False


def warn_if_server_takes_larger_uploads() -> None:
    """Once per process: tell the operator (server log) when a public server's
    `server.maxUploadSize` is above the largest stated limit (Streamlit reads a file of up
    to that size into memory before the app can refuse it; it cannot be set at runtime)."""
    global _warned_upload_size
    if _warned_upload_size or not is_public():
        return
    from streamlit import config

    _warned_upload_size = True
    server_mb = config.get_option("server.maxUploadSize")
    if server_mb > largest_upload_mb():
        logging.getLogger("transfer_lens.dashboard").warning(
            "public mode: server.maxUploadSize is %s MB, above the largest public limit "
            "(%s MB); the server takes such files into memory before the app refuses them. "
            "Fix: start it with STREAMLIT_SERVER_MAX_UPLOAD_SIZE=%s (docs/public-mode.md).",
            server_mb, largest_upload_mb(), largest_upload_mb())


def upload_limits() -> str:
    """The public upload limits in words (shown next to the uploaders)."""
    rules = public_policy()
    return (f"Up to {rules.max_upload_bytes / 1e6:g} MB and {rules.max_upload_images:,} images "
            f"per .zip, {rules.max_image_pixels / 1e6:g} megapixels per image. Your upload is "
            f"kept in a folder of your session only, and removed "
            f"{rules.upload_ttl_seconds / 3600:g} hour{'s' if rules.upload_ttl_seconds != 3600 else ''} "
            "after your last use.")


def session_uploads():
    """This session's uploads folder (core.datasets.uploads; per session in a public app)."""
    from core.datasets.uploads import session_uploads_dir

    return session_uploads_dir(session_id=session.session_token())


def start_session() -> None:
    """Every script run: renew this session's lease on its uploads (a session using its
    upload keeps it). Once per browser session: remove other sessions' uploads whose lease
    ran out (Streamlit tells nothing when a session ends: a gone session stops renewing)."""
    from core.datasets.uploads import prune_uploads, touch_session_uploads

    if is_public():
        touch_session_uploads(session_id=session.session_token())
    if session.session_started():
        return
    session.session_token()
    prune_uploads()


def session_jobs():
    """A block whose heavy jobs (training, a projection, the backbone on an upload) count
    against this session's share in a public app (core.base.jobs.job_owner)."""
    from core.base.jobs import job_owner

    return job_owner(session.session_token() if is_public() else None)


def forget_session_uploads() -> None:
    """This session replaces its upload: its earlier uploads (and exports) go at once."""
    from core.datasets.uploads import remove_session_uploads

    if is_public():
        remove_session_uploads(session_id=session.session_token())


def check_inspect_upload(name: str, size: int) -> None:
    """A public app classifies images of up to max_inspect_bytes (checked before decoding)."""
    rules = public_policy()
    if rules.enabled and size > rules.max_inspect_bytes:
        raise PublicModeError(
            f"{name} is {megabytes(size)}; this public Transfer Lens classifies images of up "
            f"to {megabytes(rules.max_inspect_bytes)}. Fix: upload a smaller copy of the image.")


def check_inspect_image(image) -> None:
    rules = public_policy()
    pixels = int(image.shape[0]) * int(image.shape[1])
    if rules.enabled and pixels > rules.max_image_pixels:
        raise PublicModeError(
            f"The image has {pixels / 1e6:.1f} megapixels; this public Transfer Lens takes up "
            f"to {rules.max_image_pixels / 1e6:g} per image. Fix: upload a smaller copy.")
