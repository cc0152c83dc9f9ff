"""Shared helpers of the chart builders."""

from __future__ import annotations

import logging

import altair as alt
import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

MAX_CHART_ROWS = 2000
"""The most data rows any chart builder embeds in its Vega-Lite spec."""


def cap_rows(frame: pd.DataFrame, *, max_rows: int = MAX_CHART_ROWS) -> pd.DataFrame:
    """Return ``frame`` unchanged if small enough, else ``max_rows`` evenly spaced rows.

    Evenly spaced (not random) so the result is deterministic and keeps the
    first and last rows, which matters for time series.
    """
    if max_rows < 1:
        raise ValueError("max_rows must be >= 1")
    if len(frame) <= max_rows:
        return frame
    idx = np.unique(np.linspace(0, len(frame) - 1, num=max_rows).round().astype(int))
    log.debug("capping chart data from %d to %d rows", len(frame), len(idx))
    return frame.iloc[idx]


def fit_width() -> alt.AutoSizeParams:
    """Autosize that fits the container's width but keeps the chart's own height.

    Streamlit's default for charts without ``autosize`` is ``fit``, which squeezes the plot of a
    layered chart with a title and legend into a few pixels of height.
    """
    return alt.AutoSizeParams(type="fit-x", contains="padding")
