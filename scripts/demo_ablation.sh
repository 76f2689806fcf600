#!/usr/bin/env bash
# Reproduces the small-scale ablation and the demo checkpoint of the README's "Results" section.
#
# Data: the NIH ChestX-ray14 sample in ../shared/data (690 real images, labels only) with reports COMPOSED from
# real Open-I sentences (cxrvlp compose). Model: the `lite` preset with its image trunk frozen (ImageNet
# EfficientNet-Lite0); the text tower, both projections and the temperature train. Same budget, data and seeds for
# every row. Evaluation on the `test` split only.
#
# Usage: bash scripts/demo_ablation.sh [OUT_DIR] [EPOCHS] [SEEDS...]
set -euo pipefail
OUT=${1:-runs/demo}
EPOCHS=${2:-2}
shift $(( $# > 2 ? 2 : $# )) || true
SEEDS=${*:-0 1 2}
DATA=${CXRVLP_SHARED_DATA:-../shared/data}
export HF_HUB_OFFLINE=1
mkdir -p "$OUT"

MANIFEST=$OUT/nih_composed.csv
cxrvlp compose --data "$DATA/nih_cxr14_sample" --out "$MANIFEST" --banks "$OUT/banks.json" --seed 0

COMMON=(--preset lite data.dataset=manifest "data.root=$MANIFEST" data.val_split=val data.num_workers=1
        train.freeze_image=true "train.epochs=$EPOCHS" train.batch_size=32 train.lr=1e-4 train.warmup_steps=5
        train.log_every=5)
TASKS=align,zeroshot,adversarial,negprompt

evaluate() {  # run_dir name
  cxrvlp eval --checkpoint "$1/checkpoints/best" --data "$MANIFEST" --split test --tasks "$TASKS" \
    --label-source dataset --bootstrap 1000 --out "$OUT/results/$2.json"
  cxrvlp eval textdiag --model "cxrvlp:$1/checkpoints/best" --limit 1000 --out "$OUT/results/$2.textdiag.json"
}
mkdir -p "$OUT/results"
if [ ! -f "$OUT/results/untrained.json" ]; then
  cxrvlp eval --model preset:lite --data "$MANIFEST" --split test --tasks "$TASKS" --label-source dataset \
    --bootstrap 1000 --out "$OUT/results/untrained.json"
  cxrvlp eval textdiag --model preset:lite --limit 1000 --out "$OUT/results/untrained.textdiag.json"
fi

for seed in $SEEDS; do
  for method in clip clip_n n_dsl_tc n_g_dsl_tcg; do
    run=$OUT/$method-s$seed
    [ -f "$OUT/results/$method-s$seed.json" ] && continue
    cxrvlp train --config "configs/$method.yaml" "${COMMON[@]}" "train.seed=$seed" "data.seed=$seed" \
      "train.run_dir=$run"
    evaluate "$run" "$method-s$seed"
  done
  for method in con1 con2; do  # fine-tuning from the CLIP run of the same seed
    run=$OUT/$method-s$seed
    [ -f "$OUT/results/$method-s$seed.json" ] && continue
    cxrvlp train --config "configs/$method.yaml" "${COMMON[@]}" "train.seed=$seed" "data.seed=$seed" \
      "train.init_from=$OUT/clip-s$seed/checkpoints/best" train.epochs=1 train.lr=2e-5 "train.run_dir=$run"
    evaluate "$run" "$method-s$seed"
  done
done
