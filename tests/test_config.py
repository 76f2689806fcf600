from __future__ import annotations

import pytest

from cxrvlp.config import (
    ConfigError,
    ExperimentConfig,
    LossConfig,
    ModelConfig,
    apply_overrides,
    from_dict,
    load_config,
    save_config,
    to_dict,
)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_round_trip(tmp_path, suffix):
    cfg = ExperimentConfig()
    cfg.model.embed_dim = 256
    cfg.model.image_kwargs = {"depth": 2}
    cfg.loss.tau_t = 0.75
    cfg.train.max_steps = 7
    path = tmp_path / f"c{suffix}"
    save_config(cfg, path)
    back = load_config(path)
    assert back == cfg
    assert isinstance(back.model.image_mean, tuple)


def test_unknown_key_names_the_dotted_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  embed_dimm: 3\n")
    with pytest.raises(ConfigError, match=r"model\.embed_dimm") as e:
        load_config(path)
    assert "embed_dim" in str(e.value)  # the valid keys are listed


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"model": {"embed_dim": "big"}}, "model.embed_dim"),
        ({"model": {"embed_dim": 1.5}}, "model.embed_dim"),
        ({"model": {"embed_dim": True}}, "model.embed_dim"),
        ({"loss": {"hard_negatives": "yes"}}, "loss.hard_negatives"),
        ({"model": {"text_pooling": "max"}}, "model.text_pooling"),
        ({"model": {"image_mean": [0.5, 0.5]}}, "model.image_mean"),
        ({"model": {"graph": {"enabled": 1}}}, "model.graph.enabled"),
        ({"model": 3}, "model"),
    ],
)
def test_wrong_type_names_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        from_dict(ExperimentConfig, data)


def test_int_is_accepted_for_float():
    assert from_dict(LossConfig, {"tau_t": 1}).tau_t == 1.0


def test_bad_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_overrides():
    cfg = apply_overrides(ExperimentConfig(), ["model.embed_dim=128", "loss.text_stream=false", "train.lr=3e-4"])
    assert cfg.model.embed_dim == 128 and cfg.loss.text_stream is False and cfg.train.lr == 3e-4
    with pytest.raises(ConfigError, match="model.nope"):
        apply_overrides(ExperimentConfig(), ["model.nope=1"])
    with pytest.raises(ConfigError, match="key.sub=value"):
        apply_overrides(ExperimentConfig(), ["model.embed_dim"])
    with pytest.raises(ConfigError, match="model.embed_dim"):
        apply_overrides(ExperimentConfig(), ["model.embed_dim=abc"])


def test_to_dict_is_json_types():
    d = to_dict(ModelConfig())
    assert isinstance(d["image_mean"], list) and isinstance(d["graph"], dict)


def test_read_config_file_is_the_one_reader(tmp_path):
    from cxrvlp.config import read_config_file

    (tmp_path / "a.yaml").write_text("train:\n  max_steps: 3\n")
    (tmp_path / "a.json").write_text('{"train": {"max_steps": 3}}')
    (tmp_path / "empty.yml").write_text("")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "bad.json").write_text("{train: 3}")
    assert read_config_file(tmp_path / "a.yaml") == read_config_file(tmp_path / "a.json") == {"train": {"max_steps": 3}}
    assert read_config_file(tmp_path / "empty.yml") == {}
    with pytest.raises(ConfigError, match="expected a mapping at the top level, got list"):
        read_config_file(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="invalid JSON"):
        read_config_file(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="cannot read config file"):
        read_config_file(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):  # load_config and the trainer share it
        load_config(tmp_path / "list.yaml")
