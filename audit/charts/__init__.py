"""Pure Altair chart builders for reports and the dashboard.

Every builder takes plain data (DataFrames, arrays, mappings) and returns an
Altair chart; none reads files, touches Streamlit or mutates its input.  Data
is aggregated or capped before it is embedded, so a chart spec never carries
more than :data:`MAX_CHART_ROWS` rows however large the run.
"""

from __future__ import annotations

from audit.charts._common import MAX_CHART_ROWS, cap_rows
from audit.charts.errors import confusion_heatmap, error_rate_bars
from audit.charts.pos import pos_boxplot, shared_domain, shared_order
from audit.charts.runs import metric_trend
from audit.charts.words import score_distribution

__all__ = [
    "MAX_CHART_ROWS", "cap_rows", "confusion_heatmap", "error_rate_bars", "metric_trend", "pos_boxplot",
    "score_distribution", "shared_domain", "shared_order",
]
