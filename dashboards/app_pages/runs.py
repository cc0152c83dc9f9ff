"""Runs: history with headline metrics, the selected run's gate, trends per model; diff two runs."""

from __future__ import annotations

import streamlit as st

from app_pages import _shared
from audit.charts import metric_trend
from audit.dashboard import links
from audit.dashboard import runs as vm

st.title("Runs")
root, runs = _shared.require_runs()

frame = vm.runs_frame(runs, new_driver_words=_shared.new_driver_counts(root, runs))
in_progress = frame[frame["status"] == "in progress"]
if not in_progress.empty:
    st.info(f"{len(in_progress)} run(s) in progress: {', '.join(in_progress['run_id'])}. "
            "They are being written, not broken; their results appear when they finish.")
shown = frame.assign(
    created_at=[vm.utc_label(t) for t in frame["created_at"]],
    model=[vm.model_name(r) for r in frame["model_ref"]],
    run_failures=[links.page_url("failures", run=r) if s == "complete" else None
              for r, s in zip(frame["run_id"], frame["status"])],
)
# the gate right after the id, so it is on screen at 1400 px; the long model ref goes last
first = ["run_id", "gate", "created_at", "status", "model", "run_failures"]
shown = shown.loc[:, first + [c for c in shown.columns if c not in first]]
_shared.show_table(shown, key="r_runs", link_columns={"run_failures": "failures"})

selected = st.session_state.get(_shared.RUN_KEY)
if selected in set(frame.loc[frame["status"] == "complete", "run_id"]):
    details = _shared.manifest(root, selected)
    gate = details.get("gate") or {}
    with st.expander(f"Run {selected}: gate {vm.gate_label(gate.get('passed'))}", expanded=True):
        checks = vm.gate_checks(gate)
        if checks.empty:
            st.caption("No gate checks were configured for this run.")
        else:
            _shared.show_table(checks, key="r_gate")
        c1, c2, c3 = st.columns(3)
        c1.page_link(_shared.PAGE_FILES["failures"], label="Its failures", icon=":material/error:",
                     query_params={"run": selected})
        c2.page_link(_shared.PAGE_FILES["drivers"], label="Its driver words", icon=":material/format_list_numbered:",
                     query_params={"run": selected})
        c3.page_link(_shared.PAGE_FILES["variants"], label="Its adversarial variants", icon=":material/swap_horiz:",
                     query_params={"run": selected})
        with st.popover("Manifest details"):
            st.json({k: details.get(k) for k in ("model_ref", "previous_run_id", "seed", "data", "timings", "metrics")},
                    expanded=False)

complete = frame.assign(model=shown["model"])[frame["status"] == "complete"]
st.subheader("Trends")
if len(complete) < 2:
    st.caption("Trends appear once there are two complete runs.")
else:
    st.caption("One line per model; times in UTC.")
    cols = st.columns(3)
    for i, metric in enumerate((*vm.HEADLINE_METRICS, "new_driver_words")):
        if complete[metric].notna().any():
            cols[i % 3].altair_chart(metric_trend(complete, metric=metric), width="stretch")

st.subheader("Compare two runs")
ids = _shared.complete_ids(root)
if len(ids) < 2:
    st.caption("A diff needs two complete runs.")
    _shared.write_params(links.Selection(run=selected))
    st.stop()
left, right = st.columns(2)
old_id = left.selectbox("Old run", ids, index=1, key="diff_old", format_func=lambda r: _shared.run_label(root, r))
new_id = right.selectbox("New run", ids, index=0, key="diff_new", format_func=lambda r: _shared.run_label(root, r))
_shared.write_params(links.Selection(run=selected))
if old_id == new_id:
    st.caption("Pick two different runs.")
    st.stop()

old_manifest, new_manifest = _shared.manifest(root, old_id), _shared.manifest(root, new_id)
differences = vm.comparability(old_manifest, new_manifest)
warning = vm.comparability_warning(differences)
if warning:
    st.warning(warning, icon=":material/warning:")
    _shared.show_table(differences, key="r_differences")
changes = vm.metric_changes(old_manifest.get("metrics") or {}, new_manifest.get("metrics") or {})
better, worse = changes[changes["verdict"] == "better"], changes[changes["verdict"] == "worse"]
st.markdown(f"**{len(better)}** metric(s) got better, **{len(worse)}** got worse.")
_shared.show_table(changes, key="r_changes")

run_diff = _shared.run_diff(root, old_id, new_id)
frames, counts = vm.diff_frames(run_diff), vm.diff_failure_counts(run_diff)
labels = _shared.labels(root, new_id)
tab_fixed, tab_broken, tab_words = st.tabs([
    f"Better: fixed failures ({counts['fixed']})",
    f"Worse: new failures ({counts['broken']})",
    f"Driver words ({len(frames['drivers'])})",
])
for tab, name in ((tab_fixed, "fixed"), (tab_broken, "broken")):
    with tab:
        shown = frames[name].head(500)
        _shared.show_table(_shared.named(shown, labels), key=f"r_{name}")
        note = vm.not_listed_note(counts[name], len(shown))
        if note:
            st.caption(note)
with tab_words:
    _shared.show_table(frames["drivers"], key="r_words")
