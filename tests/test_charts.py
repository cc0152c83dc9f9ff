"""Pure Altair chart builders: assertions on their Vega-Lite specs."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import pytest

from audit.charts import (
    MAX_CHART_ROWS,
    cap_rows,
    metric_trend,
    pos_boxplot,
    score_distribution,
    shared_domain,
    shared_order,
)


def stats_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "pos": ["NN", "JJ", "VB", "RB"], "n": [40, 30, 20, 10], "mean": [0.0, 0.5, -0.1, 0.2],
        "median": [0.05, 0.6, -0.2, 0.3], "q1": [-0.1, 0.2, -0.5, 0.0], "q3": [0.2, 0.9, 0.1, 0.5],
        "lo_whisker": [-0.4, -0.3, -1.0, -0.2], "hi_whisker": [0.5, 1.5, 0.6, 0.9],
    })


def data_rows(spec: dict) -> int:
    return sum(len(v) for v in spec.get("datasets", {}).values())


def test_pos_boxplot_layers_and_median_ranking():
    spec = pos_boxplot(stats_frame()).to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["layer"]]
    assert marks == ["rule", "bar", "tick", "text"]  # text: the count beside each box
    rule, bar, tick, _ = spec["layer"]
    assert (rule["encoding"]["x"]["field"], rule["encoding"]["x2"]["field"]) == ("lo_whisker", "hi_whisker")
    assert (bar["encoding"]["x"]["field"], bar["encoding"]["x2"]["field"]) == ("q1", "q3")
    assert tick["encoding"]["x"]["field"] == "median"
    for layer in spec["layer"]:
        assert layer["encoding"]["y"]["field"] == "pos"
        assert layer["encoding"]["y"]["sort"] == ["JJ", "RB", "NN", "VB"]  # by median, descending
    assert data_rows(spec) == 4  # aggregated stats only, no raw rows


def test_pos_boxplot_grouped_compare_and_category_cap():
    a = stats_frame().assign(run="old")
    b = stats_frame().assign(run="new", median=[0.9, -0.5, 0.0, 0.1])
    spec = pos_boxplot(pd.concat([a, b]), group="run").to_dict()
    bar = spec["layer"][1]["encoding"]
    assert bar["yOffset"]["field"] == "run" and bar["color"]["field"] == "run"
    assert bar["y"]["sort"] == ["JJ", "RB", "NN", "VB"]  # ranking follows the first group
    capped = pos_boxplot(stats_frame(), max_categories=2).to_dict()
    assert capped["layer"][0]["encoding"]["y"]["sort"] == ["JJ", "NN"]  # the two most frequent
    with pytest.raises(ValueError, match="lacks columns"):
        pos_boxplot(stats_frame().drop(columns=["q1"]))


def test_score_distribution_is_prebinned_whatever_the_sample_size():
    rng = np.random.default_rng(0)
    chart = score_distribution({"terribly": rng.normal(-1, 0.5, 50_000), "terrible": rng.normal(-2, 0.5, 3)}, bins=25)
    spec = chart.to_dict()
    assert isinstance(chart, alt.LayerChart)
    bars = spec["layer"][0]
    assert bars["mark"]["type"] == "bar"
    assert bars["encoding"]["x"]["field"] == "bin_start" and bars["encoding"]["color"]["field"] == "word"
    assert data_rows(spec) == 2 * 25 + 1  # bins per word + the zero rule
    assert spec["layer"][1]["mark"]["type"] == "rule"
    # densities integrate to one
    frame = pd.DataFrame(next(v for v in spec["datasets"].values() if len(v) == 50))
    for _, g in frame.groupby("word"):
        assert abs(((g["bin_end"] - g["bin_start"]) * g["density"]).sum() - 1) < 1e-9


def test_score_distribution_empty_and_constant():
    assert data_rows(score_distribution({"x": []}, bins=5).to_dict()) == 5 + 1
    assert data_rows(score_distribution({"x": [0.3, 0.3]}, bins=4).to_dict()) == 4 + 1


def test_metric_trend_caps_rows_and_drops_missing():
    n = 5 * MAX_CHART_ROWS
    runs = pd.DataFrame({
        "run_id": [f"r{i}" for i in range(n)],
        "created_at": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC").astype(str),
        "accuracy": np.linspace(0.7, 0.9, n),
    })
    runs.loc[3, "accuracy"] = np.nan
    spec = metric_trend(runs, metric="accuracy").to_dict()
    assert spec["mark"]["type"] == "line"
    assert spec["encoding"]["x"]["field"] == "created_at" and spec["encoding"]["x"]["type"] == "temporal"
    assert data_rows(spec) == MAX_CHART_ROWS
    small = metric_trend(runs.head(10), metric="accuracy", max_runs=50).to_dict()
    assert data_rows(small) == 9  # the NaN run is dropped
    with pytest.raises(ValueError):
        metric_trend(runs, metric="nope")


def test_cap_rows_keeps_ends():
    frame = pd.DataFrame({"x": range(1000)})
    out = cap_rows(frame, max_rows=10)
    assert len(out) == 10 and out["x"].iloc[0] == 0 and out["x"].iloc[-1] == 999
    assert cap_rows(frame.head(5), max_rows=10).equals(frame.head(5))


def test_score_histogram_bars_start_at_zero():
    spec = score_distribution({"dull": [-0.5, -0.4, 0.1, 0.2, 0.2]}, bins=4).to_dict()
    bars = spec["layer"][0]
    assert bars["encoding"]["y"]["field"] == "density" and bars["encoding"]["y2"]["field"] == "base"
    assert bars["encoding"]["y"]["scale"]["zero"] is True
    frame = pd.DataFrame(next(v for v in spec["datasets"].values() if len(v) == 4))
    assert (frame["base"] == 0).all()  # every bar is drawn from density 0 up, not as a floating dash
    assert "predicted class" in bars["encoding"]["x"]["title"]  # the sign convention is on the axis
    assert spec["autosize"]["type"] == "fit-x"  # keeps its height in Streamlit


def test_heatmaps_share_one_scale_and_have_a_legend():
    from audit.dashboard.html import PALETTES, colour, heatmap, legend, shared_peak

    a, b = [0.5, -0.25], [2.0, 0.1]
    peak = shared_peak([a, b])
    assert peak == 2.0
    first, second = heatmap(["good", "film"], a, peak=peak), heatmap(["bad", "plot"], [0.5, 0.1], peak=peak)
    same = colour(0.5, peak=peak)
    assert same in first and same in second  # equal scores, equal colours across texts
    assert heatmap(["good"], [0.5]) != heatmap(["good"], [0.5], peak=peak)  # without a shared peak they differ
    assert 'class="reat-score"' in first and "+0.500" in first  # scores visible without hover
    note = legend(peak=peak)
    assert "-2.000 against" in note and "+2.000 toward the predicted class" in note and "linear-gradient" in note
    blue, orange = PALETTES["blue-orange (colour-blind safe)"]
    assert colour(1.0, peak=1.0) == f"rgba({blue[0]},{blue[1]},{blue[2]},1.000)"  # colour-blind-safe default
    assert colour(-0.5, peak=1.0) == f"rgba({orange[0]},{orange[1]},{orange[2]},0.500)"
    assert colour(-1.0, peak=1.0, palette="green-red (the paper's)") == "rgba(220,38,38,1.000)"
    assert "toward class positive" in legend(peak=1.0, toward="toward class positive")
    with pytest.raises(ValueError, match="palette"):
        heatmap(["a"], [1.0], palette="rainbow")


def test_confusion_heatmap_has_legend_and_cell_labels():
    from audit.charts import confusion_heatmap

    matrix = pd.DataFrame({"true \\ predicted": ["negative", "positive"], "negative": [118, 17], "positive": [25, 140]})
    spec = confusion_heatmap(matrix).to_dict()
    cells, labels = spec["layer"]
    assert cells["mark"]["type"] == "rect" and cells["encoding"]["color"]["legend"] is not None
    assert cells["encoding"]["color"]["scale"]["domainMin"] == 0
    assert labels["mark"]["type"] == "text" and labels["encoding"]["text"]["field"] == "count"


def test_trend_axis_is_utc_24h_and_grouped_by_model():
    runs = pd.DataFrame({"run_id": ["a", "b", "c"], "created_at": ["2026-12-01T20:05:00+00:00"] * 2 + [
        "2026-12-02T20:05:00+00:00"], "accuracy": [0.8, 0.7, 0.81], "model": ["gru", "lstm", "gru"]})
    spec = metric_trend(runs, metric="accuracy").to_dict()
    x = spec["encoding"]["x"]
    assert x["scale"]["type"] == "utc" and "UTC" in x["title"]
    assert "utcFormat" in x["axis"]["labelExpr"] and "%H:%M" in x["axis"]["labelExpr"]  # 20:05, never 08:05
    assert spec["encoding"]["color"]["field"] == "model"
    rows = next(iter(spec["datasets"].values()))
    assert rows[0]["created_at"] == "2026-12-01T20:05:00Z"


def test_pos_min_count_punctuation_and_shared_scales():
    from audit.charts.pos import select_categories

    stats = pd.concat([stats_frame(), pd.DataFrame({
        "pos": [".", ",", "FW"], "n": [300, 200, 2], "mean": [0.9, 0.1, 0.9], "median": [0.95, 0.1, 0.99],
        "q1": [0.5, 0.0, 0.9], "q3": [1.4, 0.2, 1.0], "lo_whisker": [-0.4, -0.2, 0.8], "hi_whisker": [2.8, 0.4, 1.1]})])
    spec = pos_boxplot(stats, min_count=5, punct="exclude").to_dict()
    assert spec["layer"][0]["encoding"]["y"]["sort"] == ["JJ", "RB", "NN", "VB"]  # no ".", ",", nor FW (n=2)
    assert list(select_categories(stats, punct="only")["pos"]) == [".", ","]
    other = stats_frame().assign(median=[0.9, -0.5, 0.0, 0.1], hi_whisker=[3.0, 1.5, 0.6, 0.9])
    frames = [select_categories(f, min_count=5, punct="exclude") for f in (stats, other)]
    domain, order = shared_domain(frames), shared_order(frames)
    assert domain == (-1.0, 3.0) and order == ["JJ", "RB", "NN", "VB"]
    for frame in (stats, other):
        s = pos_boxplot(frame, min_count=5, punct="exclude", domain=domain, order=order).to_dict()
        assert s["layer"][0]["encoding"]["x"]["scale"]["domain"] == [-1.0, 3.0]
        assert s["layer"][0]["encoding"]["y"]["sort"] == order  # same rows in the same order
        assert s["title"]["limit"] == 0 and s["layer"][0]["encoding"]["y"]["axis"]["labelLimit"] == 0  # no truncation
    with pytest.raises(ValueError, match="punct"):
        pos_boxplot(stats, punct="some")
