"""The run store: immutable run folders, a SQLite index, diffs between runs.

Public API::

    store = RunStore(root)
    writer = store.begin(run_key, manifest, resume=True, wait_s=0.0)
    writer.write_chunk(...); writer.write_table(...); writer.publish(manifest_updates={...})
    store.list_runs(); store.get(run_id); store.latest_complete(); store.rebuild_index()
    diff_runs(old, new) -> RunDiff
"""

from audit.store.diff import RunDiff, diff_runs
from audit.store.runs import RunRecord, RunStore, RunSummary, RunWriter

__all__ = ["RunDiff", "RunRecord", "RunStore", "RunSummary", "RunWriter", "diff_runs"]
