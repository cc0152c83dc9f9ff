"""View models and data access for the Streamlit dashboard (``dashboards/``).

Everything here is plain Python on DataFrames and run-store records: no
Streamlit import, so it is unit-tested without a browser.  The Streamlit pages
only call these functions, cache their results and lay them out.

Modules: :mod:`~audit.dashboard.store` (locating/opening the run store and the
first-run message), :mod:`~audit.dashboard.runs` (history, headline metrics,
diffs), :mod:`~audit.dashboard.failures` (filtering, paging, heatmaps),
:mod:`~audit.dashboard.drivers`, :mod:`~audit.dashboard.variants`,
:mod:`~audit.dashboard.explain` and :mod:`~audit.dashboard.html` (escaped HTML).
"""
