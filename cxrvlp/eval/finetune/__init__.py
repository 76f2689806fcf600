"""Fine-tuned classification (Ko & Park Table 2, FT10 / FT100) and linear probing of the image encoder.

From any model with ``predictor.model.encode_image`` and ``predictor.image_tensor`` (our checkpoints through
``cxrvlp.inference.Predictor``, external adapters), train a multi-label classification head on a labelled image set:

- ``linear`` (linear probe): the encoder is frozen; every image is embedded **once** and a logistic-regression head
  is trained on the cached features. The features are our image trunk's pooled features *before* the CLIP
  projection (the standard probe input); any other model (an external adapter) gives its ``encode_image``
  embedding.
- ``full`` (fine-tuning): a copy of the same backbone trains together with a new linear head, with the training
  augmentation of :func:`cxrvlp.data.transforms.image_transform` (``train=True``).

Protocol (documented choices):

- **Label fraction** (FT10 = 0.1, FT100 = 1.0): a seeded sample of the *patients* of the ``train`` split (all
  their images together). ``val`` is kept whole: it only picks the epoch. Final numbers are on ``test`` only.
- **Classes**: given, or every finding with at least one positive in the whole ``train`` split (so all fractions and
  seeds share one class list); ``No Finding`` is not a class, its rows are all-zero targets. A class with no positive
  in a small sampled subset still gets a head (trained on negatives only) and is listed per seed in ``info``.
- **Loss / selection**: multi-label BCE (``pos_weight`` ``none`` by default; ``balanced`` = n_neg / n_pos per class);
  the validation macro AUROC selects, with patience 3: the L2 strength (linear) or the epoch (full).
- **Linear probe optimiser**: L-BFGS (full batch, strong-Wolfe line search, 100 iterations) on features standardised
  with the training subset's mean / std, along the L2 path 10, 10^-0.5, ..., 1e-5 (strongest first, warm-started)
  — CLIP's logistic-regression probe. AdamW from a zero head was tried first: its sign-like first steps weigh every
  feature equally, so early stopping picked near-initial heads (epoch 1) and missed a 2-sigma signal in synthetic
  data; the convex L-BFGS path has no such artefact and no seed dependence.
- **Full fine-tuning optimiser**: AdamW, backbone lr 1e-4, head lr 1e-3, weight decay 1e-2, up to 20 epochs,
  batch 32, constant learning rate.
- **Reporting**: per finding and macro AUROC on ``test``, averaged over seeds, with the sample standard deviation
  over seeds and a bootstrap 95% CI of the seed mean (test images resampled, the same resamples for every seed and
  finding). Findings without a positive and a negative test image are skipped and listed.

Modules: :mod:`~cxrvlp.eval.finetune.run` (config, :func:`run_finetune`, :func:`embed_for_probe`),
:mod:`~cxrvlp.eval.finetune.data` (manifest, patients, classes, fraction sampling), :mod:`~cxrvlp.eval.finetune.train`
(shared training parts, feature extraction), :mod:`~cxrvlp.eval.finetune.probe`, :mod:`~cxrvlp.eval.finetune.full`
and :mod:`~cxrvlp.eval.finetune.scoring` (seed aggregation, CIs).
"""

from cxrvlp.eval.finetune.data import LabelledSet, read_labelled_manifest
from cxrvlp.eval.finetune.run import (
    L2_GRID,
    MODES,
    EvalTransform,
    FinetuneConfig,
    TrainAugment,
    embed_for_probe,
    run_finetune,
    task_name,
)

__all__ = [
    "L2_GRID",
    "MODES",
    "EvalTransform",
    "FinetuneConfig",
    "LabelledSet",
    "TrainAugment",
    "embed_for_probe",
    "read_labelled_manifest",
    "run_finetune",
    "task_name",
]
