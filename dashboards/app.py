"""reat-audit dashboard: ``streamlit run dashboards/app.py`` (or ``audit dashboard``).

Thin: page layout only. Data access, filtering, paging and charts live in
``audit.dashboard`` and ``audit.charts``; cached loaders in ``app_pages/_shared.py``.
The run store directory comes from ``$AUDIT_STORE`` (set by ``audit dashboard --store``).
"""

from __future__ import annotations

import streamlit as st
from app_pages import _shared  # importable: streamlit puts the main script's folder on sys.path

st.set_page_config(page_title="reat-audit", page_icon=":material/troubleshoot:", layout="wide")

PAGES = [
    st.Page("app_pages/runs.py", title="Runs", icon=":material/history:", default=True),
    st.Page("app_pages/failures.py", title="Failures", icon=":material/error:"),
    st.Page("app_pages/drivers.py", title="Driver words", icon=":material/format_list_numbered:"),
    st.Page("app_pages/pos_patterns.py", title="POS patterns", icon=":material/bar_chart:"),
    st.Page("app_pages/variants.py", title="Adversarial variants", icon=":material/swap_horiz:"),
    st.Page("app_pages/explain.py", title="Explain", icon=":material/psychology:"),
]

navigation = st.navigation(PAGES)
_shared.begin(navigation.url_path)  # deep links: ?run=&word=&example=&level=&method=
_shared.sidebar()
navigation.run()
