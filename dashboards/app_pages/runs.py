"""Runs: history with headline metrics and trends; pick two runs to diff."""

from __future__ import annotations

import streamlit as st

from app_pages import _shared
from audit.charts import metric_trend
from audit.dashboard import runs as vm

st.title("Runs")
root, runs = _shared.require_runs()

frame = vm.runs_frame(runs, new_driver_words=_shared.new_driver_counts(root, runs))
in_progress = frame[frame["status"] == "in progress"]
if not in_progress.empty:
    st.info(f"{len(in_progress)} run(s) in progress: {', '.join(in_progress['run_id'])}. "
            "They are being written, not broken; their results appear when they finish.")
st.dataframe(frame, hide_index=True, width="stretch")

selected = st.session_state.get(_shared.RUN_KEY)
if selected in set(frame.loc[frame["status"] == "complete", "run_id"]):
    details = _shared.manifest(root, selected)
    gate = details.get("gate") or {}
    with st.expander(f"Run {selected}: gate {vm.gate_label(gate.get('passed'))}", expanded=not gate.get("passed", True)):
        for breach in gate.get("breaches") or []:
            st.text(f"breach: {breach}")
        st.json({k: details.get(k) for k in ("model_ref", "previous_run_id", "seed", "data", "timings", "metrics")},
                expanded=False)

complete = frame[frame["status"] == "complete"]
st.subheader("Trends")
if len(complete) < 2:
    st.caption("Trends appear once there are two complete runs.")
else:
    cols = st.columns(3)
    for i, metric in enumerate((*vm.HEADLINE_METRICS, "new_driver_words")):
        if complete[metric].notna().any():
            cols[i % 3].altair_chart(metric_trend(complete, metric=metric), width="stretch")

st.subheader("Compare two runs")
ids = _shared.complete_ids(root)
if len(ids) < 2:
    st.caption("A diff needs two complete runs.")
    st.stop()
left, right = st.columns(2)
old_id = left.selectbox("Old run", ids, index=1, key="diff_old", format_func=lambda r: _shared.run_label(root, r))
new_id = right.selectbox("New run", ids, index=0, key="diff_new", format_func=lambda r: _shared.run_label(root, r))
if old_id == new_id:
    st.caption("Pick two different runs.")
    st.stop()

changes = vm.metric_changes(_shared.manifest(root, old_id).get("metrics") or {},
                            _shared.manifest(root, new_id).get("metrics") or {})
better, worse = changes[changes["verdict"] == "better"], changes[changes["verdict"] == "worse"]
st.markdown(f"**{len(better)}** metric(s) got better, **{len(worse)}** got worse.")
st.dataframe(changes, hide_index=True, width="stretch")

frames = vm.diff_frames(_shared.run_diff(root, old_id, new_id))
tab_fixed, tab_broken, tab_words = st.tabs([
    f"Better: fixed failures ({len(frames['fixed'])})",
    f"Worse: new failures ({len(frames['broken'])})",
    f"Driver words ({len(frames['drivers'])})",
])
tab_fixed.dataframe(frames["fixed"].head(500), hide_index=True, width="stretch")
tab_broken.dataframe(frames["broken"].head(500), hide_index=True, width="stretch")
tab_words.dataframe(frames["drivers"], hide_index=True, width="stretch")
