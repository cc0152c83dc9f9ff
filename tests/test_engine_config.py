"""The nightly config: strict validation with file + dotted field path in the error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from audit.attack import AttackConfig
from audit.engine.config import NightlyConfig, dataset_name, load_config, parse_config
from audit.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent

MINIMAL = {"model": "artifacts/models/gru", "datasets": [{"path": "data:sst2/test.tsv"}]}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "nightly.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_shipped_nightly_config_is_valid() -> None:
    cfg = load_config(REPO / "configs" / "nightly.yaml")
    assert cfg.model == "artifacts/models/gru"
    assert cfg.train_config == "configs/train/gru.yaml"
    assert [dataset_name(d) for d in cfg.datasets] == ["sst2-test"]
    assert cfg.train_data is not None and cfg.gate.min_accuracy is not None


def test_defaults_and_hash_are_stable() -> None:
    cfg = parse_config(MINIMAL)
    assert cfg.store == "reports/runs" and cfg.attack.max_texts is None and cfg.max_len is None
    assert dataset_name(cfg.datasets[0]) == "sst2/test"
    assert cfg.config_hash() == parse_config(MINIMAL).config_hash()
    assert cfg.config_hash() != cfg.model_copy(update={"seed": 1}).config_hash()


def test_unknown_key_names_file_and_field(tmp_path: Path) -> None:
    path = _write(tmp_path, {**MINIMAL, "attack": {"max_textz": 3}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: attack.max_textz: ")
    assert "Extra inputs are not permitted" in msg
    assert info.value.exit_code == 3


def test_wrong_type_names_the_dotted_path(tmp_path: Path) -> None:
    path = _write(tmp_path, {**MINIMAL, "attack": {"max_texts": "many"}, "gate": {"min_accuracy": "high"}})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert f"{path}: " in msg
    assert "attack.max_texts: Input should be a valid integer" in msg
    assert "gate.min_accuracy: Input should be a valid number" in msg


def test_nested_list_field_path() -> None:
    with pytest.raises(ConfigError, match=r"datasets\.0\.text_colum: Extra inputs"):
        parse_config({**MINIMAL, "datasets": [{"path": "x.tsv", "text_colum": "t"}]}, source="c.yaml")


def test_missing_required_and_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model: Field required"):
        parse_config({"datasets": MINIMAL["datasets"]})
    with pytest.raises(ConfigError, match="mapping"):
        load_config(_write(tmp_path, ["a", "b"]))


def test_duplicate_dataset_names_rejected() -> None:
    with pytest.raises(ConfigError, match="unique"):
        parse_config({**MINIMAL, "datasets": [{"path": "a/x.tsv"}, {"path": "b/x.tsv"}]})


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_attack_section_maps_to_library_config() -> None:
    cfg = NightlyConfig.model_validate(
        {**MINIMAL, "attack": {"max_texts": 5, "flip_top_words": 2, "max_words_changed": 2}}
    )
    lib = cfg.attack.library_config()
    assert type(lib) is AttackConfig  # job-only knobs (max_texts, flip_top_words) are not passed on
    assert lib.max_words_changed == 2 and "max_texts" not in lib.model_dump()
    assert cfg.attack.max_texts == 5 and cfg.attack.flip_top_words == 2
