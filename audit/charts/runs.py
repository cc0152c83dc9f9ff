"""Trend charts over the run history."""

from __future__ import annotations

import altair as alt
import pandas as pd

from audit.charts._common import MAX_CHART_ROWS, cap_rows, fit_width

METRIC_TITLES: dict[str, str] = {
    "accuracy": "accuracy",
    "n_errors": "errors",
    "attack_success_rate": "attack success",
    "attack_success_rate_constrained": "attack success (meaning kept)",
    "new_driver_words": "new driver words",
    "n_confirmed_drivers": "confirmed driver words",
}

TIME_FORMAT = "%Y-%m-%d %H:%M"
"""24-hour axis labels (a bare ``%I:%M`` read 08:05 for a run at 20:05)."""


def metric_trend(
    runs: pd.DataFrame,
    *,
    metric: str,
    title: str | None = None,
    max_runs: int = MAX_CHART_ROWS,
    group: str | None = "model",
) -> alt.Chart:
    """Line chart of one headline ``metric`` over ``created_at``, one line per model.

    ``runs`` has one row per run with at least ``run_id``, ``created_at`` and
    the ``metric`` column; rows without a value (failed or running runs) are
    dropped.  Only the latest ``max_runs`` runs are plotted.  Times are shown in
    UTC (a ``utc`` time scale, 24-hour labels, "UTC" in the axis title).  With
    ``group`` naming a column the runs have (default ``model``, a short model name), each model
    gets its own line and colour, so models are never joined into one line.
    """
    missing = {"run_id", "created_at", metric} - set(runs.columns)
    if missing:
        raise ValueError(f"runs frame lacks columns {sorted(missing)}")
    name = METRIC_TITLES.get(metric, metric)
    grouped = group is not None and group in runs.columns
    cols = ["run_id", "created_at", metric] + ([group] if grouped and group else [])
    data = runs.loc[:, cols].dropna(subset=[metric])
    data = data.assign(created_at=pd.to_datetime(data["created_at"], utc=True, errors="coerce"))
    data = data.dropna(subset=["created_at"]).sort_values("created_at").tail(max_runs)
    data = cap_rows(data, max_rows=max_runs)
    data = data.assign(created_at=data["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    data = data.rename(columns={metric: "value"}).reset_index(drop=True)
    tooltip = [alt.Tooltip("run_id:N"), alt.Tooltip("created_at:T", title="created (UTC)", format=TIME_FORMAT),
               alt.Tooltip("value:Q", title=name)]
    enc: dict[str, object] = {}
    if grouped and group:
        data[group] = data[group].fillna("?").astype(str)
        enc["color"] = alt.Color(f"{group}:N", title="model", scale=alt.Scale(scheme="tableau10"),
                                 legend=alt.Legend(orient="top", labelLimit=0))
        tooltip.insert(1, alt.Tooltip(f"{group}:N", title="model"))
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("created_at:T", title="run created (UTC)", scale=alt.Scale(type="utc"),
                    axis=alt.Axis(labelExpr=f"utcFormat(datum.value, '{TIME_FORMAT}')", labelAngle=-30,
                                  labelOverlap=True, tickCount=4)),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(format=".4~g")),
            tooltip=tooltip,
            **enc,
        )
        .properties(title=alt.Title(title or name, limit=0), height=180, autosize=fit_width())
    )
