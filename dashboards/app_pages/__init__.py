"""Pages of the reat-audit dashboard (run through ``st.navigation`` in ``dashboards/app.py``)."""
