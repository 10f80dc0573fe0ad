"""The configuration's schema: dataclasses registered in Hydra's ConfigStore.

``conf/config.yaml`` starts from ``benchmark_schema`` (:class:`BenchConfig`) and each group
member (``conf/model/*.yaml``, ``conf/method/*.yaml``, ...) from its group's schema, so a
misspelled key or a wrong type fails at composition, before anything runs. Where each setting
lives (one home each):

* ``models`` / ``methods`` / ``layers`` / ``tasks`` and ``only`` (rules that narrow them):
  what runs (:mod:`benchmarks.plan` is the one place that reads them);
* ``metrics.<task>``: every setting of a task (:class:`MetricsConfig`, one field per task,
  each task's own dataclass: ``Task.Settings``, whose defaults are the settings' defaults:
  ``conf/metrics/default.yaml`` repeats none, experiments and ``metrics=full`` override some);
  ``metrics.masking``: the masking fill the faithfulness metrics and the masking methods share
  (:class:`MaskingConfig`);
* ``dataset``, ``train``, ``model``, ``method``: the group members;
* the rest (batch size, precision, resume, ...) on :class:`BenchConfig` itself.

Model fields are ``None`` unless a member sets them: the trained-model cache hashes the
architecture keys a member has (``benchmarks.models.train.config_hash``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from enum import StrEnum
from typing import Any

from hydra.core.config_store import ConfigStore

from .method_adapters import EXPLAINER_FACTORY
from .tasks import TASKS


@dataclass
class MethodConfig:
    """``conf/method/<id>.yaml``: built with ``hydra.utils.instantiate`` (``_target_``).
    The yamls leave ``_target_`` to this default, the factory under the package's real name
    (``benchmarks`` in a checkout, ``tfcam_benchmarks`` installed)."""
    _target_: str = EXPLAINER_FACTORY
    id: str = "???"
    library: str = "tfcam"         # tfcam | tf-keras-vis | baseline
    name: str = "???"              # the library's name of the method
    layerwise: bool = True         # false: input-space method or reference map (layer choice ``input``)
    counterpart: str | None = None  # the tfcam method a tf-keras-vis method is compared with
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """``conf/model/<name>.yaml``."""
    name: str = "???"
    family: str | None = None
    builder: str | None = None  # applications | vgg_small | resnet_small | efficientnet_lite0 | saved
    path: str | None = None     # builder saved: your model's .keras file (benchmarks/models/saved.py)
    application: str | None = None
    preprocess: str | None = None
    widths: list[int] | None = None
    blocks: list[int] | None = None
    strides: list[int] | None = None
    pools: list[int] | None = None
    batch_norm: bool | None = None
    nested: Any = None             # false | true | sequential | subclassed
    weights: str | None = None  # auto | imagenet | train | random
    weights_path: str | None = None
    imagenet_file: str | None = None
    same_weights_as: str | None = None
    layers: dict[str, str] = field(default_factory=dict)   # shallow / mid / last -> layer name
    stages: list[str] = field(default_factory=list)       # the shattered-gradient layers
    train: dict[str, Any] = field(default_factory=dict)   # overrides of conf/train


class Targets(StrEnum):
    """The class each image is explained for (``dataset.targets``, the ``targets`` column):
    ``label``, the data's class (the localization papers' protocol: the ground truth whose
    object the masks outline); ``predicted``, the model's top-1 class (Grad-CAM++'s Average
    Drop / Increase in Confidence protocol, and RISE's). A model is explained for the data's
    labels only where they are its classes (the built-in data for the models trained on it,
    an ImageNet-style folder for ImageNet models, ``class_names`` for a saved model); else
    for its prediction (benchmarks/app.py: ``labels_are_model_classes``)."""
    label = "label"
    predicted = "predicted"


@dataclass
class DatasetConfig:
    """``conf/dataset/<name>.yaml``: the built-in data (``kind: synthetic``, the fields of
    :class:`benchmarks.data.synthetic.SyntheticSpec`) or a folder of images."""
    kind: str = "synthetic"
    name: str = "???"
    image_size: int = 64
    targets: Targets = Targets.label  # label (the data's classes) | predicted (the model's top-1)
    # synthetic
    num_classes: int | None = None
    n_images: int | None = None
    pair_fraction: float | None = None
    max_distractors: int | None = None
    object_scale: list[float] | None = None
    border_fraction: float | None = None
    min_visible: float | None = None
    noise_std: float | None = None
    background: str | None = None
    seed: int | None = None
    split: str | None = None
    # folder
    root: str | None = None
    csv_file: str | None = None
    class_names: list[str] | None = None
    limit: int | None = None      # an alias of n_images
    synsets: str | None = None     # ImageNet synset list (benchmarks/data/folder.py)
    # grid (benchmarks/data/grid.py)
    min_probability: float | None = None
    select_model: str | None = None


@dataclass
class TrainConfig:
    """``conf/train/default.yaml`` (a model's ``train:`` block overrides its keys)."""
    n_train: int = 1600
    n_val: int = 300
    epochs: int = 7
    batch_size: int = 32
    learning_rate: float = 0.002
    schedule: str = "cosine"
    augment: bool = True
    seed: int = 0
    init: str = "default"
    data_seed: int = 1234
    deterministic: bool = True
    min_accuracy: float = 0.8
    on_inaccurate: str = "skip"    # skip | warn | error


@dataclass
class MaskingConfig:
    """``metrics.masking``: what masked pixels become (:mod:`tfcam.fill`), one setting for
    every metric and method that masks: Average Drop / Increase in Confidence, deletion's
    fill, and the tfcam methods that mask their input (score_cam*, occlusion;
    :func:`benchmarks.method_adapters.with_fill`). Insertion keeps RISE's blurred start."""
    fill: Any = "black"   # black | mean | blur | a number | one number per channel


# One field per registered task, typed by the task's own Settings: a new task brings its
# settings with it; ``masking``: the one setting several tasks and methods share.
MetricsConfig = make_dataclass("MetricsConfig", [
    *((name, task.Settings, field(default_factory=task.Settings)) for name, task in TASKS.items()),
    ("masking", MaskingConfig, field(default_factory=MaskingConfig))])


@dataclass
class Rule:
    """One entry of ``only``: every unit whose model / task / method is in ``if_*`` (unset:
    any) keeps only the ``tasks`` / ``methods`` / ``layers`` listed (unset: all)."""
    if_models: list[str] | None = None
    if_tasks: list[str] | None = None
    if_methods: list[str] | None = None
    tasks: list[str] | None = None
    methods: list[str] | None = None
    layers: list[str] | None = None


@dataclass
class ExperimentInfo:
    name: str = "custom"
    description: str = ""


@dataclass
class ReportConfig:
    figures: bool = True
    n_images: int = 4              # images in the heatmap grids
    max_methods: int = 14          # methods in a heatmap grid, each with all its layers


@dataclass
class BenchConfig:
    experiment: ExperimentInfo = field(default_factory=ExperimentInfo)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    model: ModelConfig | None = None      # model=<name>: this one model instead of `models`
    method: MethodConfig | None = None    # method=<id>: this one method instead of `methods`
    models: list[str] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=lambda: ["last"])
    layer: str | None = None              # layer=<choice or name>: this one layer
    tasks: list[str] = field(default_factory=list)
    only: list[Rule] = field(default_factory=list)
    weights: str | None = None
    precision: str = "float32"
    batch_size: int = 16
    seed: int = 0
    progress: bool = True
    resume: bool = True
    retry_errors: bool = True
    fail_fast: bool = False
    cache_dir: str = "~/.cache/tfcam"
    results_format: str = "csv"
    report: ReportConfig = field(default_factory=ReportConfig)


SCHEMAS = {"model": ModelConfig, "method": MethodConfig, "dataset": DatasetConfig, "train": TrainConfig,
           "metrics": MetricsConfig}


def register() -> None:
    """Store the schemas: ``benchmark_schema`` for config.yaml, ``<group>/schema`` for the
    group members' ``defaults``."""
    cs = ConfigStore.instance()
    cs.store(name="benchmark_schema", node=BenchConfig)
    for group, node in SCHEMAS.items():
        cs.store(group=group, name="schema", node=node)


register()
