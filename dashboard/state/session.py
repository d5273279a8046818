"""This browser session's bookkeeping: its token, extractions paused or waited for, what
happened to the transfer values (the cache panel), clearing the cache, exported files."""

from __future__ import annotations

import secrets
from typing import Any

import streamlit as st

from dashboard.state import EXTRACTED_ZIP, TV_KEY

SESSION_TOKEN = "_session_token"  # random; names this session's private uploads folder
SESSION_STARTED = "_session_started"  # the once-per-session chores ran (pruning old uploads)
PAUSED_EXTRACTION = "paused_extraction"
# The settings of the last workspace that was ready in this session: while new transfer
# values are embedded in the background, the views keep showing these.
READY_SETTINGS = "ready_settings"
WATCHED_EXTRACTION = "watched_extraction"  # the one extraction this session waits for
TV_STATUS = "tv_status"
EXPORTS = "exports"
TRAIN_CANCELLED = "train_cancelled"
CACHE_CLEARED = "cache_cleared"
CLEAR_CONFIRM = "clear_confirm"  # the cache panel asks which entries to delete, and confirms

STOPPED, CLEARED = "stopped", "cleared"  # why extraction waits for the user


def session_token() -> str:
    """A random token for this browser session, kept for its lifetime: it names the
    session's own uploads folder, so no session can guess (or reach) another's."""
    return st.session_state.setdefault(SESSION_TOKEN, secrets.token_hex(16))


def session_started() -> bool:
    """False the first time it is asked in a session, True afterwards."""
    started = bool(st.session_state.get(SESSION_STARTED))
    st.session_state[SESSION_STARTED] = True
    return started


# --- transfer-value extraction paused by the user, or waited for ---

def pause_extraction(tv_key: str, why: str = STOPPED) -> None:
    st.session_state[PAUSED_EXTRACTION] = (tv_key, why)


def resume_extraction() -> None:
    st.session_state.pop(PAUSED_EXTRACTION, None)


def extraction_paused(tv_key: str) -> str | None:
    """Why extraction of these values waits for the user (STOPPED, CLEARED), or None."""
    paused = st.session_state.get(PAUSED_EXTRACTION)
    return paused[1] if paused and paused[0] == tv_key else None


def ready_settings() -> Any:
    """The settings of the last workspace shown (services.extraction.Settings), or None."""
    return st.session_state.get(READY_SETTINGS)


def set_ready_settings(settings: Any) -> None:
    st.session_state[READY_SETTINGS] = settings


def watch_extraction(tv_key: str) -> str | None:
    """This session now waits for `tv_key`'s extraction; returns the key it waited for
    before, if another (the caller lets go of that one)."""
    before = st.session_state.get(WATCHED_EXTRACTION)
    st.session_state[WATCHED_EXTRACTION] = tv_key
    return before if before != tv_key else None


def unwatch_extraction(tv_key: str) -> None:
    if st.session_state.get(WATCHED_EXTRACTION) == tv_key:
        del st.session_state[WATCHED_EXTRACTION]


# --- training cancelled by the user ---

def mark_cancelled() -> None:
    """Training was cancelled (an on_click callback; the rerun interrupts the training)."""
    st.session_state[TRAIN_CANCELLED] = True


def was_cancelled() -> bool:
    """Whether training was cancelled since the last time this was asked."""
    return bool(st.session_state.pop(TRAIN_CANCELLED, False))


# --- files written by the Export view ---

def export_path(tv_key: str, what: str) -> str | None:
    return st.session_state.setdefault(EXPORTS, {}).get((tv_key, what))


def store_export(tv_key: str, what: str, path: str) -> None:
    st.session_state.setdefault(EXPORTS, {})[(tv_key, what)] = path


# --- what happened to the transfer values in this session (for the cache panel) ---

def record_tv_status(tv_key: str, status: str, seconds: float) -> None:
    st.session_state.setdefault(TV_STATUS, {})[tv_key] = (status, seconds)


def tv_status(tv_key: str) -> tuple[str, float] | None:
    return st.session_state.setdefault(TV_STATUS, {}).get(tv_key)


def ask_clear_cache() -> None:
    st.session_state[CLEAR_CONFIRM] = True


def cancel_clear_cache() -> None:
    st.session_state.pop(CLEAR_CONFIRM, None)


def clear_cache_asked() -> bool:
    return bool(st.session_state.get(CLEAR_CONFIRM))


def cache_cleared(freed: int, *, everything: bool) -> None:
    """After the cache was cleared: what was computed is gone from disk. The values on the
    page are not recomputed until the user asks (a clear must not start a long job)."""
    st.session_state.pop(CLEAR_CONFIRM, None)
    st.session_state[CACHE_CLEARED] = freed
    st.session_state[TV_STATUS] = {}
    if everything:
        st.session_state.pop(EXTRACTED_ZIP, None)  # uploads live in the cache folder too
    if TV_KEY in st.session_state:
        pause_extraction(st.session_state[TV_KEY], CLEARED)


def take_cache_cleared() -> int | None:
    """Bytes freed by a clear since the last time this was asked."""
    return st.session_state.pop(CACHE_CLEARED, None)
