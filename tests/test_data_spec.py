"""The one dataset spec (audit.data.spec) and the reader faults of issue 10 (items 4.1, 4.2, 4.7, 4.10, 5)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from audit.data.readers import read_dataset
from audit.data.spec import DatasetSpec, ReadOptions, align_labels, read_spec
from audit.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ item 5: one spec
def test_all_three_configs_use_the_one_spec() -> None:
    from audit.engine.config import NightlyConfig
    from audit.evaluation.config import DatasetConfig, EvalConfig, ModelEntry
    from audit.models.config import DataSection

    assert NightlyConfig.model_fields["datasets"].annotation == list[DatasetSpec]
    assert DatasetConfig is DatasetSpec
    assert EvalConfig.model_fields["dataset"].annotation is DatasetSpec
    assert ModelEntry.model_fields["train_data"].annotation == DatasetSpec | None
    assert issubclass(DataSection, ReadOptions)
    section = DataSection(train="a.csv", dev="b.csv", format="csv", header=False, text_column=1, label_column=0,
                          label_names=("neg", "pos"), on_bad_rows="skip")
    spec = section.spec("dev")
    assert isinstance(spec, DatasetSpec)
    assert (spec.path, spec.name, spec.format, spec.header, spec.text_column, spec.label_names, spec.on_bad_rows) == (
        "b.csv", "dev", "csv", False, 1, ("neg", "pos"), "skip")


def test_old_field_names_are_aliases_and_both_at_once_is_an_error() -> None:
    old = DatasetSpec.model_validate({"path": "x.csv", "fmt": "csv", "labels": ["a", "b"]})
    new = DatasetSpec.model_validate({"path": "x.csv", "format": "csv", "label_names": ["a", "b"]})
    assert old == new and old.format == "csv" and old.label_names == ("a", "b")
    with pytest.raises(ValueError, match="not both"):
        DatasetSpec.model_validate({"path": "x.csv", "fmt": "csv", "format": "csv"})
    with pytest.raises(ValueError, match="Extra inputs"):
        DatasetSpec.model_validate({"path": "x.csv", "label_colum": "y"})
    with pytest.raises(ValueError, match="header: false needs integer"):
        DatasetSpec.model_validate({"path": "x.csv", "header": False})


def test_nightly_train_and_eval_configs_read_old_names(tmp_path: Path) -> None:
    from audit.engine.config import parse_config
    from audit.evaluation.config import EvalConfig
    from audit.models.config import TrainConfig

    cfg = parse_config({"model": "m", "datasets": [{"path": "t.csv", "fmt": "csv", "header": False,
                                                    "text_column": 1, "label_column": 0}]})
    assert cfg.datasets[0].format == "csv" and cfg.datasets[0].header is False  # header: new for nightly
    train = TrainConfig.model_validate({"name": "x", "data": {"train": "a", "dev": "b", "labels": ["n", "p"]}})
    assert train.data.label_names == ("n", "p") and train.data.labels == ("n", "p")
    ev = EvalConfig.model_validate({"name": "e", "dataset": {"path": "t.tsv", "fmt": "tsv"},
                                    "models": [{"name": "m", "dir": "d"}], "misbehaviour": {"case_model": None}})
    assert ev.dataset.format == "tsv"
    with pytest.raises(ConfigError, match="on_bad_rows"):
        parse_config({"model": "m", "datasets": [{"path": "t.tsv", "on_bad_rows": "ignore"}]})


def _dataset_blocks(raw: object) -> list[dict]:
    out: list[dict] = []
    if isinstance(raw, dict):
        if "path" in raw and ("text_column" in raw or "label_map" in raw or "label_names" in raw or "format" in raw
                              or "fmt" in raw):
            out.append(raw)
        for v in raw.values():
            out += _dataset_blocks(v)
    elif isinstance(raw, list):
        for v in raw:
            out += _dataset_blocks(v)
    return out


@pytest.mark.parametrize("path", sorted(str(p.relative_to(REPO)) for p in (REPO / "configs").rglob("*.yaml")))
def test_every_shipped_config_validates_with_the_new_names(path: str) -> None:
    from audit.engine.config import load_config as load_nightly
    from audit.evaluation.config import load_config as load_eval
    from audit.harden import load_harden_config
    from audit.models.config import load_train_config

    text = (REPO / path).read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    if path.startswith("configs/train/"):
        cfg = load_train_config(REPO / path)
        assert "labels" not in raw["data"] and cfg.data.label_names is not None
    elif path.startswith("configs/paper/"):
        load_eval(REPO / path)
    elif path == "configs/harden.yaml":
        load_harden_config(REPO / path)
    else:
        load_nightly(REPO / path)
    for block in _dataset_blocks(raw):
        assert "fmt" not in block and "labels" not in block, (path, block)


# ------------------------------------------------------------------------------------------ read_spec
def test_read_spec_resolves_relative_paths_and_max_examples(tmp_path: Path) -> None:
    _write(tmp_path / "d.tsv", "label\ttext\n1\tgood\n0\tbad\n1\tfine\n")
    spec = DatasetSpec(path="d.tsv", max_examples=2)
    ds = read_spec(spec, base=tmp_path)
    assert ds.texts == ["good", "bad"] and ds.name == "d" and ds.path == tmp_path / "d.tsv"


# ------------------------------------------------------------------------------------------ item 4.1: long fields
@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_field_over_128_kib_is_read(tmp_path: Path, fmt: str) -> None:
    long_text = " ".join(["word"] * 60_000)  # ~300 KB, over csv's default 131072-character limit
    assert len(long_text) > 128 * 1024
    sep = "," if fmt == "csv" else "\t"
    quoted = f'"{long_text}"' if fmt == "csv" else long_text
    p = _write(tmp_path / f"long.{fmt}", f"label{sep}text\n1{sep}short one\n0{sep}{quoted}\n")
    limit = csv.field_size_limit()
    ds = read_dataset(p)
    assert ds.texts == ["short one", long_text] and ds.labels == [1, 0] and ds.lines == [2, 3]
    assert csv.field_size_limit() == limit  # the process-wide limit is restored


# ------------------------------------------------------------------------------------------ item 4.2: controls
@pytest.mark.parametrize(
    ("name", "content", "line"),
    [
        ("nul.tsv", "label\ttext\n1\tgood\n0\tbad\x00 film\n", 3),
        ("nul.csv", 'label,text\n1,good\n0,"bad\x00 film"\n', 3),
        ("bell.jsonl", '{"text": "good", "label": 1}\n{"text": "bad\\u0007 film", "label": 0}\n', 2),
        ("esc.tsv", "label\ttext\n1\tgo\x1b[31mod\n", 2),
    ],
)
def test_control_characters_are_refused_with_file_and_line(tmp_path: Path, name: str, content: str, line: int) -> None:
    p = _write(tmp_path / name, content)
    with pytest.raises(DataError) as info:
        read_dataset(p)
    assert info.value.path == str(p) and info.value.line == line
    assert "control character U+00" in str(info.value)
    assert "\x00" not in str(info.value) and "\x07" not in str(info.value) and "\x1b" not in str(info.value)


def test_tab_newline_and_carriage_return_stay_allowed(tmp_path: Path) -> None:
    p = _write(tmp_path / "ok.csv", 'label,text\r\n1,"two\r\nlines\tand a tab"\r\n')
    assert read_dataset(p).texts == ["two\r\nlines\tand a tab"]


# ------------------------------------------------------------------------------------------ item 4.10: bad rows
BAD = "label\ttext\n1\tgood\n7x\tunknown label\n0\tbad\n1\t  \n0\tdull\x00\n1\tfine\n"


def test_error_names_the_first_bad_row_and_counts_the_others(tmp_path: Path) -> None:
    p = _write(tmp_path / "bad.tsv", BAD)
    with pytest.raises(DataError) as info:
        read_dataset(p)
    err, msg = info.value, str(info.value)
    assert err.line == 3 and "unknown label '7x'" in msg
    assert "and 2 other bad rows" in msg and "line 5: empty text" in msg and "line 6: control character U+0000" in msg
    assert "on_bad_rows: skip" in msg


def test_skip_leaves_bad_rows_out_and_lists_each(tmp_path: Path) -> None:
    p = _write(tmp_path / "bad.tsv", BAD)
    ds = read_dataset(p, on_bad_rows="skip")
    assert ds.texts == ["good", "bad", "fine"] and ds.lines == [2, 4, 7]
    assert [(b.line, b.reason.split(" (")[0].split(":")[0]) for b in ds.skipped] == [
        (3, "unknown label '7x'"), (5, "empty text"), (6, "control character U+0000 at column 5 of the text")]
    assert all(b.path == p for b in ds.skipped)
    assert ds.skipped[0].to_dict("x") == {"dataset": "x", "path": str(p), "line": 3,
                                          "reason": ds.skipped[0].reason}


def test_skip_handles_structural_bad_rows_and_invalid_utf8(tmp_path: Path) -> None:
    p = _write(tmp_path / "b.jsonl", b'{"text": "a", "label": 1}\n{"text": "b", \n{"txt": "c", "label": 0}\n'
               b'{"text": "bad \xff", "label": 0}\n[1]\n{"text": "ok", "label": 0}\n')
    ds = read_dataset(p, on_bad_rows="skip")
    assert ds.texts == ["a", "ok"]
    reasons = [b.reason for b in ds.skipped]
    assert [b.line for b in ds.skipped] == [2, 3, 4, 5]
    assert reasons[0].startswith("invalid JSON") and reasons[1].startswith("missing text column")
    assert "UTF-8" in reasons[2] and "0xff" in reasons[2] and "JSON object" in reasons[3]
    t = _write(tmp_path / "f.tsv", "label\ttext\n1\tgood\n1\ttoo\tmany\n\n0\tbad\n")
    ds = read_dataset(t, on_bad_rows="skip")
    assert ds.texts == ["good", "bad"] and [b.line for b in ds.skipped] == [3, 4]


def test_tokenizer_makes_a_text_without_tokens_a_bad_row(tmp_path: Path) -> None:
    p = _write(tmp_path / "t.tsv", "label\ttext\n1\tgood\n0\t@@@\n")
    ds = read_dataset(p, on_bad_rows="skip", tokenizer=lambda s: [w for w in s.split() if w.isalpha()])
    assert ds.texts == ["good"] and ds.skipped[0].reason == "the text has no tokens"


def test_all_rows_bad_with_skip_is_still_an_error(tmp_path: Path) -> None:
    p = _write(tmp_path / "t.tsv", "label\ttext\nx\tgood\ny\tbad\n")
    with pytest.raises(DataError, match="every one of the 2 rows is bad"):
        read_dataset(p, on_bad_rows="skip")


# ------------------------------------------------------------------------------------------ item 4.7: label schemas
def _ds(tmp_path: Path, text: str, name: str = "d.tsv") -> Path:
    return _write(tmp_path / name, text)


def test_three_class_dataset_against_two_class_model_is_refused(tmp_path: Path) -> None:
    p = _ds(tmp_path, "label\ttext\n0\tbad\n1\tok\n2\tgreat\n")
    model = ("negative", "positive")
    spec = DatasetSpec(path=str(p), label_map={"0": 0, "1": 1, "2": 2})
    with pytest.raises(DataError) as info:
        read_spec(spec, model_labels=model)
    msg = str(info.value)
    assert "3 classes" in msg and "['negative', 'positive']" in msg and "'2'->2" in msg and "fix:" in msg
    named = DatasetSpec(path=str(p), label_names=("negative", "neutral", "positive"))
    with pytest.raises(DataError) as info:
        read_spec(named, model_labels=model)
    msg = str(info.value)
    assert "['negative', 'neutral', 'positive']" in msg and "['negative', 'positive']" in msg and "'neutral'" in msg
    with pytest.raises(DataError) as info:
        read_spec(DatasetSpec(path=str(p)), model_labels=model)  # plain integer ids
    assert info.value.line == 4 and "['negative', 'positive']" in str(info.value) and "[0, 1, 2]" in str(info.value)


def test_labels_are_matched_by_name(tmp_path: Path) -> None:
    p = _ds(tmp_path, "label\ttext\n0\tgreat\n1\tbad\n")
    spec = DatasetSpec(path=str(p), label_names=("positive", "negative"))  # the dataset's own id order
    ds = read_spec(spec, model_labels=("negative", "positive"))
    assert ds.labels == [1, 0] and ds.label_names == ("negative", "positive")
    fewer = read_spec(DatasetSpec(path=str(_ds(tmp_path, "label\ttext\n1\tgreat\n", "p.tsv"))),
                      model_labels=("negative", "neutral", "positive"))  # a dataset may use fewer classes
    assert fewer.labels == [1] and fewer.label_names == ("negative", "neutral", "positive")


def test_label_map_naming_model_labels_with_other_ids_is_refused(tmp_path: Path) -> None:
    p = _ds(tmp_path, "label\ttext\npositive\tgreat\nnegative\tbad\n")
    spec = DatasetSpec(path=str(p), label_map={"positive": 0, "negative": 1})
    with pytest.raises(DataError, match="'positive' to class 0, but the model's class 0 is 'negative'"):
        read_spec(spec, model_labels=("negative", "positive"))
    ok = read_spec(DatasetSpec(path=str(p), label_map={"negative": 0, "positive": 1}),
                   model_labels=("negative", "positive"))
    assert ok.labels == [1, 0]
    ds = read_dataset(p, label_map={"negative": 0, "positive": 1})
    assert align_labels(ds, DatasetSpec(path=str(p), label_map={"negative": 0, "positive": 1}),
                        ("negative", "positive")).labels == [1, 0]


def test_json_of_skipped_rows_is_serialisable(tmp_path: Path) -> None:
    p = _write(tmp_path / "bad.tsv", BAD)
    ds = read_dataset(p, on_bad_rows="skip")
    json.dumps([b.to_dict("d") for b in ds.skipped])


def test_evaluation_checks_each_models_labels(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from audit.evaluation.runner import _gold_for

    p = _ds(tmp_path, "label\ttext\n0\tgreat\n1\tbad\n2\tmeh\n")
    spec = DatasetSpec(path=str(p), label_names=("positive", "negative", "neutral"))
    ds = read_spec(spec)
    three = SimpleNamespace(model=SimpleNamespace(labels=("negative", "neutral", "positive")))
    assert _gold_for(ds, spec, three, 3) == [2, 0, 1]
    two = SimpleNamespace(model=SimpleNamespace(labels=("negative", "positive")))
    with pytest.raises(DataError, match="'neutral' is not a model label"):
        _gold_for(ds, spec, two, 3)


def test_json_escaped_lone_surrogate_is_a_bad_row(tmp_path: Path) -> None:
    p = _write(tmp_path / "s.jsonl", '{"text": "good", "label": 1}\n{"text": "bad \\ud800", "label": 0}\n')
    with pytest.raises(DataError, match="lone surrogate U\\+D800") as info:
        read_dataset(p)
    assert info.value.line == 2
