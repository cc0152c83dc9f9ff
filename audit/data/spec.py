"""The one dataset spec: where a labelled dataset is and how to read it.

:class:`DatasetSpec` is what every config calls a dataset: the nightly job's
``datasets[]`` and ``train_data``, the evaluation's ``dataset`` /
``train_data`` / ``dev_data``; the training config's ``data:`` section uses
the same reading options (:class:`ReadOptions`) for its train/dev/test files.
:func:`read_spec` is the one way to turn a spec into a :class:`Dataset`.

Field names (old names still accepted, see :data:`ALIASES`)::

    path          file, or data:sst2/test.tsv (relative to AUDIT_DATA_DIR)
    name          name in run tables (default: the file path without suffix)
    format        tsv | csv | jsonl | parquet (default: from the suffix)      [alias: fmt]
    text_column   header name, or 0-based position (header: false)
    label_column  header name, or 0-based position
    header        false for a TSV/CSV without a header row
    label_map     raw label value -> class id, e.g. {"neg": 0, "pos": 1}
    label_names   class names in id order, e.g. [negative, positive]         [alias: labels]
    on_bad_rows   error (default: refuse, naming every bad row) | skip (leave them out, listed in the run)
    max_examples  keep only the first N rows (smoke runs)

Label schemas: given the labels of the model that will read the data
(``model_labels=``), :func:`read_spec` checks that the dataset's classes map
onto them and returns the labels as the *model's* class ids: by name when
``label_names`` is given (so a dataset may list its classes in another order),
else by id.  A dataset whose classes the model does not have is refused with
both lists and the fix (:func:`align_labels`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from audit.data.readers import Dataset, read_dataset
from audit.errors import DataError

__all__ = ["ALIASES", "DatasetSpec", "ReadOptions", "align_labels", "dataset_name", "read_spec", "resolve_spec_path"]

log = logging.getLogger(__name__)

ALIASES: dict[str, str] = {"fmt": "format", "labels": "label_names"}
"""Old field name -> the field it now is (configs written before the one spec keep working)."""

Format = Literal["tsv", "csv", "jsonl", "parquet"]


class ReadOptions(BaseModel):
    """How to read a labelled text file (shared by every dataset spec)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Format | None = Field(default=None, description="tsv|csv|jsonl|parquet (default: from the suffix)")
    text_column: str | int = Field(default="text", description="header name, or 0-based position")
    label_column: str | int = Field(default="label", description="header name, or 0-based position")
    header: bool = Field(default=True, description="False for TSV/CSV files without a header row (columns by position)")
    label_map: dict[str, int] | None = Field(default=None, description="raw label value -> class id")
    label_names: tuple[str, ...] | None = Field(
        default=None, description="class names in id order, e.g. [negative, positive]"
    )
    on_bad_rows: Literal["error", "skip"] = Field(
        default="error",
        description="error: refuse the dataset, naming the first bad row and counting the others; "
        "skip: leave bad rows out (each is listed in the run's manifest and report)",
    )

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for old, new in ALIASES.items():
            if old in out:
                if new in out:
                    raise ValueError(f"give {new} or its old name {old}, not both")
                out[new] = out.pop(old)
        return out

    @model_validator(mode="after")
    def _check(self) -> ReadOptions:
        if self.label_names is not None and len(self.label_names) < 2:
            raise ValueError("label_names needs at least two class names")
        if self.label_names is not None and len(set(self.label_names)) != len(self.label_names):
            raise ValueError(f"label_names must be distinct, got {list(self.label_names)}")
        if not self.header and not (isinstance(self.text_column, int) and isinstance(self.label_column, int)):
            raise ValueError("header: false needs integer text_column and label_column (0-based positions)")
        return self


class DatasetSpec(ReadOptions):
    """One labelled dataset: where it is and how to read it."""

    path: str = Field(description="File path, or data:sst2/test.tsv relative to AUDIT_DATA_DIR")
    name: str | None = Field(default=None, description="Name used in the run tables (default: file path stem)")
    max_examples: int | None = Field(default=None, ge=1, description="keep only the first N rows (smoke runs)")


def dataset_name(spec: DatasetSpec) -> str:
    """The dataset's name in run tables: ``name`` or the file stem (``data:sst2/test.tsv`` -> ``sst2/test``)."""
    if spec.name:
        return spec.name
    text = spec.path[len("data:") :] if spec.path.startswith("data:") else Path(spec.path).name
    return str(Path(text).with_suffix("")).replace("\\", "/")


def resolve_spec_path(value: str, *, base: Path | None = None) -> Path:
    """``data:``/``${AUDIT_DATA_DIR}`` paths via settings; other relative ones against ``base`` (when given)."""
    from audit.settings import resolve_data_path

    p = resolve_data_path(value)
    if base is None or value.startswith("data:") or "AUDIT_DATA_DIR" in value or p.is_absolute():
        return p
    return base / p


def read_spec(
    spec: DatasetSpec,
    *,
    base: Path | None = None,
    name: str | None = None,
    model_labels: Sequence[str] | None = None,
    tokenizer: Callable[[str], list[str]] | None = None,
) -> Dataset:
    """Read the dataset ``spec`` describes.

    ``base`` resolves relative paths (default: the working directory); ``name``
    overrides the spec's name; with ``model_labels`` the labels are checked and
    mapped onto the model's classes (:func:`align_labels`); with ``tokenizer``
    a text without tokens is a bad row (handled by ``spec.on_bad_rows``).
    """
    path = resolve_spec_path(spec.path, base=base)
    ds = read_dataset(
        path,
        text_column=spec.text_column,
        label_column=spec.label_column,
        label_map=spec.label_map,
        fmt=spec.format,
        name=name or dataset_name(spec),
        label_names=spec.label_names,
        header=spec.header,
        on_bad_rows=spec.on_bad_rows,
        tokenizer=tokenizer,
    )
    if spec.max_examples is not None and len(ds) > spec.max_examples:
        n = spec.max_examples
        last = ds.lines[n - 1]
        ds = replace(ds, texts=ds.texts[:n], labels=ds.labels[:n], lines=ds.lines[:n],
                     skipped=tuple(b for b in ds.skipped if b.line < last))
    if model_labels is not None:
        ds = align_labels(ds, spec, model_labels)
    return ds


def _lines(ds: Dataset, ids: set[int]) -> str:
    lines = [str(line) for line, y in zip(ds.lines, ds.labels) if y in ids]
    return ", ".join(lines[:5]) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")


def align_labels(ds: Dataset, spec: DatasetSpec, model_labels: Sequence[str]) -> Dataset:
    """``ds`` with labels as ``model_labels`` ids, or :class:`DataError` naming both label lists and the fix.

    * ``label_names`` given: each dataset class is matched to the model class of the same name.
    * else (integer ids, or ``label_map`` ids): the ids must be model class ids; a ``label_map`` whose
      keys are model label names must give each the model's id for that name.
    """
    model = tuple(str(x) for x in model_labels)
    ours = list(model)
    if spec.label_names is not None:
        names = tuple(spec.label_names)
        missing = [n for n in names if n not in model]
        if missing:
            raise DataError(
                f"the dataset's labels {list(names)} do not map onto the model's labels {ours}: "
                f"{', '.join(repr(m) for m in missing)} {'is' if len(missing) == 1 else 'are'} not a model label",
                path=ds.path,
                hint=f"set the dataset's label_names to the model's names of the same classes (one of {ours} per "
                "dataset class id), or audit a model trained on these classes",
            )
        to_model = [model.index(n) for n in names]
        labels = [to_model[y] for y in ds.labels]
        return replace(ds, labels=labels, label_names=model)
    k = len(model)
    if spec.label_map is not None:
        data_ids = sorted(set(spec.label_map.values()))
        if len(data_ids) > k:
            mapping = ", ".join(f"{key!r}->{v}" for key, v in spec.label_map.items())
            raise DataError(
                f"the dataset has {len(data_ids)} classes (label_map {mapping}) but the model has {k} labels {ours}",
                path=ds.path,
                hint=f"map the dataset's labels onto the model's class ids 0..{k - 1} in label_map (or name them with "
                f"label_names from {ours}); a class the model does not know cannot be audited",
            )
        clash = [(key, v) for key, v in spec.label_map.items() if key in model and model.index(key) != v]
        if clash:
            key, v = clash[0]
            raise DataError(
                f"label_map maps {key!r} to class {v}, but the model's class {v} is {model[v]!r} "
                f"(model labels {ours})",
                path=ds.path,
                hint=f"map {key!r} to {model.index(key)}, or set label_names",
            )
    beyond = {y for y in ds.labels if y >= k}
    if beyond:
        found = sorted(set(ds.labels))
        raise DataError(
            f"the dataset's labels are class ids {found} but the model has {k} labels {ours} "
            f"(ids {sorted(beyond)} at lines {_lines(ds, beyond)})",
            path=ds.path,
            line=next(line for line, y in zip(ds.lines, ds.labels) if y in beyond),
            hint=f"use class ids 0..{k - 1}, map the raw labels with label_map, or name them with label_names "
            f"from {ours}",
        )
    return replace(ds, label_names=model)
