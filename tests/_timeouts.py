"""One generous hang guard for tests that wait on a subprocess or a Streamlit script.

These are not speed checks: a test only fails here when something hangs.  The guard is
large so that a loaded 2-core CI box (a helper once saw the old 120 s limit hit under
load) does not turn slowness into a failure.
"""

HANG_GUARD_S = 600
