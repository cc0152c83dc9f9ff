"""reat-audit: debug and audit recurrent text classifiers with REAT.

The curated public API is re-exported here; everything in modules whose name
starts with an underscore is private.
"""

from __future__ import annotations

from audit.errors import (
    AuditError,
    ConfigError,
    DataError,
    GateFailure,
    IncompatibleModelError,
    InputError,
    ModelError,
    ResourceMissingError,
    StoreError,
    StoreLockedError,
)

__version__ = "0.1.0"

__all__ = [
    "AuditError",
    "ConfigError",
    "DataError",
    "GateFailure",
    "IncompatibleModelError",
    "InputError",
    "ModelError",
    "ResourceMissingError",
    "StoreError",
    "StoreLockedError",
    "__version__",
]
