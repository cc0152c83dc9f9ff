"""Cached loaders and the run picker shared by every dashboard page.

Caching: the store and models with ``st.cache_resource``; tables, manifests and
diffs with ``st.cache_data`` keyed by run id (published runs are immutable).
The run list has a short TTL so a run that finishes shows up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from audit.dashboard import columns as vm_columns
from audit.dashboard import links
from audit.dashboard import runs as vm_runs
from audit.dashboard import store as vm_store
from audit.dashboard.html import DEFAULT_PALETTE, PALETTES, SIGN_TITLES
from audit.errors import AuditError, StoreError

RUN_KEY = "run_id"
SIGN_KEY = "sign"
PALETTE_KEY = "palette"
_QP_PAGE, _QP_WRITTEN, _QP_IN, _QP_FRESH = "_qp_page", "_qp_written", "_qp_incoming", "_qp_fresh"
PAGE_FILES = {name: f"app_pages/{name}.py" for name in links.PAGE_PATHS}


def store_dir() -> str:
    return str(vm_store.resolve_store_dir())


@st.cache_resource(show_spinner=False)
def _store(root: str) -> Any:
    store = vm_store.open_store(root)
    if store is None:  # not cached as a value: a store created later must be seen
        raise FileNotFoundError(root)
    return store


def get_store(root: str) -> Any | None:
    """The cached store, or None while its directory does not exist."""
    if not Path(root).is_dir():
        return None
    return _store(root)


def store(root: str) -> Any:
    """The cached store; StoreError when its directory is gone."""
    found = get_store(root)
    if found is None:
        raise StoreError(f"run store {root} does not exist", hint="check --store / AUDIT_STORE")
    return found


@st.cache_data(ttl=5, show_spinner=False)
def list_runs(root: str) -> list[dict[str, Any]]:
    found = get_store(root)
    return [] if found is None else [s.to_dict() for s in found.list_runs(include_incomplete=True)]


@st.cache_data(show_spinner=False, max_entries=256)
def manifest(root: str, run_id: str) -> dict[str, Any]:
    return dict(store(root).get(run_id).manifest)


@st.cache_data(show_spinner=False, max_entries=64)
def table(root: str, run_id: str, name: str) -> pd.DataFrame | None:
    """A run table, or None when the run does not have it."""
    record = store(root).get(run_id)
    return record.table(name) if record.has_table(name) else None


@st.cache_data(show_spinner=False, max_entries=32)
def run_diff(root: str, old_id: str, new_id: str) -> dict[str, Any]:
    from audit.store import diff_runs

    runs = store(root)
    return diff_runs(runs.get(old_id), runs.get(new_id)).to_dict()


@st.cache_resource(show_spinner=False, max_entries=8)
def model(ref: str) -> Any:
    from audit.models.io import load_model_ref

    return load_model_ref(ref)


@dataclass
class Summary:
    run_id: str
    created_at: str
    status: str
    model_ref: str | None
    metrics: dict[str, Any]
    gate_passed: bool | None


def summaries(root: str) -> list[Summary]:
    return [
        Summary(d["run_id"], str(d["created_at"]), d["status"], d.get("model_ref"), dict(d.get("metrics") or {}),
                d.get("gate_passed"))
        for d in list_runs(root)
    ]


def complete_ids(root: str) -> list[str]:
    """Complete run ids, newest first."""
    done = [s for s in summaries(root) if s.status == "complete"]
    return [s.run_id for s in sorted(done, key=lambda s: s.created_at, reverse=True)]


def run_label(root: str, run_id: str) -> str:
    """``model · acc 0.812 · run_id`` for pickers."""
    for s in summaries(root):
        if s.run_id == run_id:
            acc = s.metrics.get("accuracy")
            return vm_runs.run_label(run_id, model_ref=s.model_ref, accuracy=acc)
    return run_id


def begin(page_path: str) -> None:
    """Read this run's URL parameters; call once per script run, before :func:`sidebar`.

    A parameter counts as *incoming* (and is applied to the widgets) when the URL is new to this
    page: a first visit, a followed link, or a value that differs from what the page last wrote.
    """
    params = st.query_params.to_dict()
    fresh = st.session_state.get(_QP_PAGE) != page_path
    written = {} if fresh else st.session_state.get(_QP_WRITTEN, {})
    st.session_state[_QP_PAGE] = page_path
    st.session_state[_QP_FRESH] = fresh
    st.session_state[_QP_IN] = links.QuerySync(written).incoming(params)


def incoming() -> dict[str, str]:
    """The URL parameters that came with this visit (see :func:`begin`)."""
    return dict(st.session_state.get(_QP_IN, {}))


def selection() -> links.Selection:
    """The incoming parameters as a :class:`~audit.dashboard.links.Selection`."""
    return links.parse_query(incoming())


def write_params(sel: links.Selection) -> None:
    """Make the URL show ``sel`` (so it can be shared); remembered so it is not re-applied."""
    query = links.to_query(sel)
    st.session_state[_QP_WRITTEN] = query
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)


def sticky(key: str, value: Any) -> Any:
    """A page-level choice that came with the URL: set on a fresh visit or a new link, kept over reruns."""
    if value is not None or st.session_state.get(_QP_FRESH, True):
        st.session_state[key] = value
    return st.session_state.get(key)


def apply(key: str, value: Any) -> None:
    """Set widget ``key`` to a value that came with the URL (before the widget is drawn)."""
    if value is not None:
        st.session_state[key] = value


def sidebar() -> None:
    """Store location, the run picker and the display settings shared by all pages."""
    root = store_dir()
    with st.sidebar:
        st.caption(f"Run store: `{root}`")
        ids = complete_ids(root) if get_store(root) is not None else []
        if ids:
            wanted = selection().run
            if wanted and wanted in ids:
                st.session_state[RUN_KEY] = wanted
            elif wanted:
                st.warning(f"Run {wanted} from the link is not a complete run of this store; showing the newest.")
            if st.session_state.get(RUN_KEY) not in ids:
                st.session_state[RUN_KEY] = ids[0]
            st.selectbox("Run", ids, key=RUN_KEY, format_func=lambda r: run_label(root, r))
        st.radio("Scores", list(SIGN_TITLES), key=SIGN_KEY, format_func=lambda k: SIGN_TITLES[k],
                 help="The sign convention of every score and heatmap: positive = pushes toward this class")
        st.selectbox("Heatmap colours", list(PALETTES), key=PALETTE_KEY,
                     help="Blue/orange is safe for colour-blind readers; green/red is the paper's")
        if st.button("Reload runs", help="Re-read the run store"):
            list_runs.clear()


def sign() -> str:
    return str(st.session_state.get(SIGN_KEY) or "pred")


def palette() -> str:
    value = st.session_state.get(PALETTE_KEY)
    return value if value in PALETTES else DEFAULT_PALETTE


def column_config(frame: pd.DataFrame, *, link_columns: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A column config with a help text for every column; ``link_columns`` maps link columns to their label."""
    config: dict[str, Any] = {}
    for name, help_text in vm_columns.helps(frame.columns).items():
        if link_columns and name in link_columns:
            config[name] = st.column_config.LinkColumn(link_columns[name], help=help_text,
                                                       display_text=link_columns[name])
        elif pd.api.types.is_float_dtype(frame[name]):
            config[name] = st.column_config.NumberColumn(help=help_text, format="%.4g")
        else:
            config[name] = st.column_config.Column(help=help_text)
    return config


def show_table(frame: pd.DataFrame, *, key: str | None = None, link_columns: Mapping[str, str] | None = None,
               height: int | str = "auto") -> None:
    """``st.dataframe`` with column help, no index, full width."""
    st.dataframe(frame, hide_index=True, width="stretch", key=key, height=height,
                 column_config=column_config(frame, link_columns=link_columns))


def require_runs() -> tuple[str, list[Summary]]:
    """The store dir and its runs; shows the first-run message and stops the page when there are none."""
    root = store_dir()
    try:
        runs = summaries(root) if get_store(root) is not None else []
    except AuditError as exc:
        st.error(f"Cannot read the run store: {exc}")
        st.stop()
    if not runs:
        st.info(vm_store.first_run_message(root), icon=":material/info:")
        st.stop()
    return root, runs


def require_run() -> tuple[str, str, dict[str, Any]]:
    """(store dir, selected complete run id, its manifest); stops with a message when there is none."""
    root, runs = require_runs()
    ids = complete_ids(root)
    if not ids:
        running = [s.run_id for s in runs if s.status == "running"]
        note = f" Run {running[0]} is in progress." if running else ""
        st.info("No complete run yet." + note + " Its results appear here when it finishes.")
        st.stop()
    run_id = st.session_state.get(RUN_KEY)
    if run_id not in ids:
        run_id = ids[0]
    return root, run_id, manifest(root, run_id)


def require_table(root: str, run_id: str, name: str) -> pd.DataFrame:
    frame = table(root, run_id, name)
    if frame is None:
        st.info(f"Run {run_id} has no `{name}` table (the stage that writes it was not run).")
        st.stop()
    return frame


def new_driver_counts(root: str, runs: list[Summary]) -> dict[str, int | None]:
    """New driver words per complete run, for runs whose manifest does not already carry them: new confirmed
    drivers when both runs have driver statistics, the raw top-20 comparison for runs made before them."""
    prev = vm_runs.previous_complete(runs)
    out: dict[str, int | None] = {}
    for s in runs:
        if s.status != "complete" or "new_driver_words" in s.metrics or prev.get(s.run_id) is None:
            continue
        cur_stats, old_stats = table(root, s.run_id, "driver_stats"), table(root, prev[s.run_id], "driver_stats")
        if cur_stats is not None and old_stats is not None:  # the diff's and the gate's definition
            words = vm_runs.new_confirmed_drivers(cur_stats, old_stats)
            out[s.run_id] = None if words is None else len(words)
            continue
        cur, old = table(root, s.run_id, "driver_words"), table(root, prev[s.run_id], "driver_words")
        if cur is not None and old is not None and cur_stats is None:  # runs made before driver statistics
            words = vm_runs.new_driver_words(cur, old)
            out[s.run_id] = None if words is None else len(words)
    return out


def labels(root: str, run_id: str) -> dict[int, str]:
    """Class index -> label name of a run."""
    from audit.dashboard.failures import label_names

    return label_names(manifest(root, run_id), table(root, run_id, "driver_words"))


def named(frame: pd.DataFrame, names: Mapping[int, str]) -> pd.DataFrame:
    """``frame`` with its label columns (gold, pred, ...) shown as label names."""
    from audit.dashboard.failures import with_label_names

    return with_label_names(frame, names)
