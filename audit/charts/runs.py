"""Trend charts over the run history."""

from __future__ import annotations

import altair as alt
import pandas as pd

from audit.charts._common import MAX_CHART_ROWS, cap_rows

METRIC_TITLES: dict[str, str] = {
    "accuracy": "accuracy",
    "n_errors": "errors",
    "attack_success_rate": "attack success",
    "attack_success_rate_constrained": "attack success (meaning kept)",
    "new_driver_words": "new driver words",
}


def metric_trend(
    runs: pd.DataFrame,
    *,
    metric: str,
    title: str | None = None,
    max_runs: int = MAX_CHART_ROWS,
) -> alt.Chart:
    """Line chart of one headline ``metric`` over ``created_at``.

    ``runs`` has one row per run with at least ``run_id``, ``created_at`` and
    the ``metric`` column; rows without a value (failed or running runs) are
    dropped.  Only the latest ``max_runs`` runs are plotted.
    """
    missing = {"run_id", "created_at", metric} - set(runs.columns)
    if missing:
        raise ValueError(f"runs frame lacks columns {sorted(missing)}")
    name = METRIC_TITLES.get(metric, metric)
    data = runs.loc[:, ["run_id", "created_at", metric]].dropna(subset=[metric])
    data = data.assign(created_at=pd.to_datetime(data["created_at"], utc=True, errors="coerce"))
    data = data.dropna(subset=["created_at"]).sort_values("created_at").tail(max_runs)
    data = cap_rows(data, max_rows=max_runs)
    data = data.assign(created_at=data["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    data = data.rename(columns={metric: "value"}).reset_index(drop=True)
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("created_at:T", title="run created"),
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(format="~g")),
            tooltip=[alt.Tooltip("run_id:N"), alt.Tooltip("created_at:T"), alt.Tooltip("value:Q", title=name)],
        )
        .properties(title=title or name, height=160)
    )
