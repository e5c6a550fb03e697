#!/usr/bin/env bash
# The real-data recipe: train SSHSNet (tiny) on a folder of NAME_image.nii.gz / NAME_label.nii.gz pairs
# with a labels.json, and export the deployable package to OUT/package.
#
#   scripts/train_real.sh DATA OUT [--held-out DIR] [--epochs1 N] [--epochs2 N] [--iterations N]
#                         [--pretrain-phantoms N] [--pretrain-epochs N] [--crop X,Y] [--patch X,Y,Z]
#                         [--lr-schedule poly|constant] [--validation-fraction F] [--members N] [--threads N]
#                         [--seed S] [--overwrite]
#
# Steps (docs/training.md, "The real-data recipe"):
#   1. stage one pretrained on phantoms (spine_rt.phantoms, drawn at the scans' own spacing, labels matched
#      to DATA/labels.json by name), unless --pretrain-phantoms 0;
#   2. stage one on DATA (CPS + CutMix, native spacing, --spine-augmentation: shift along the spine,
#      field-of-view cuts, gamma and bias field), started from the pretrained weights (--init);
#   3. stage two on DATA with that stage one frozen (--spine-augmentation: gamma and bias field on the MR);
#   (1-3 run for --members N copies side by side, seeds SEED, SEED+1, ...: 2 by default, one thread each)
#   4. `spine-rt export sshsnet` of the best.pt files (the members as the folds of one package, their
#      outputs averaged): the package runs the grid, window sizes, labels and
#      normalisation the networks were trained and validated with, and records the level recount as its
#      default (--relabel-levels: on the 5-fold cross-validation it removed every level shift);
#   5. with --held-out DIR: `spine-rt evaluate OUT/package DIR DIR` (the product path) -> OUT/held_out.json/.csv.
#
# The last quarter of DATA's scans in name order (--validation-fraction) is the validation split that picks
# best.pt; with --validation-fraction 0 every scan trains and best.pt is picked on the training scans.
# Defaults: 30 + 10 epochs of 200 steps (6,000 + 2,000 steps) plus 1,000 pretraining steps, two members
# with one thread each (--members 2 --threads 1): 26-29 min wall per one-thread member with its held-out
# evaluation on a 2-core Xeon (5-fold cross-validation, docs/training.md), the two side by side;
# --members 1 --threads 2 trains one network in about the same time, for a package that runs faster.
# Exit codes: those of the spine-rt commands (2 bad input, 3 missing torch/MONAI); 2 for bad arguments.
set -euo pipefail

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
fail() { echo "train_real.sh: error: $*" >&2; exit 2; }

[[ $# -ge 2 ]] || usage
DATA=$1 OUT=$2
shift 2
HELD_OUT="" EPOCHS1=30 EPOCHS2=10 ITERATIONS=200 PRETRAIN_PHANTOMS=16 PRETRAIN_EPOCHS=5
CROP=112,112 PATCH=64,64,12 LR_SCHEDULE=poly VALIDATION=0.25 MEMBERS=2 THREADS=1 SEED=0 OVERWRITE=""
while [[ $# -gt 0 ]]; do
  [[ $# -ge 2 || $1 == --overwrite ]] || fail "$1 needs a value"
  case $1 in
    --held-out) HELD_OUT=$2; shift 2 ;;
    --epochs1) EPOCHS1=$2; shift 2 ;;
    --epochs2) EPOCHS2=$2; shift 2 ;;
    --iterations) ITERATIONS=$2; shift 2 ;;
    --pretrain-phantoms) PRETRAIN_PHANTOMS=$2; shift 2 ;;
    --pretrain-epochs) PRETRAIN_EPOCHS=$2; shift 2 ;;
    --crop) CROP=$2; shift 2 ;;
    --patch) PATCH=$2; shift 2 ;;
    --lr-schedule) LR_SCHEDULE=$2; shift 2 ;;
    --validation-fraction) VALIDATION=$2; shift 2 ;;
    --members) MEMBERS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --seed) SEED=$2; shift 2 ;;
    --overwrite) OVERWRITE=--overwrite; shift ;;
    *) fail "unknown option $1" ;;
  esac
done
for number in "$EPOCHS1" "$EPOCHS2" "$ITERATIONS" "$PRETRAIN_EPOCHS" "$THREADS" "$MEMBERS"; do
  [[ $number =~ ^[1-9][0-9]*$ ]] || fail "epochs, iterations, threads and members must be positive integers, got '$number'"
done
[[ $LR_SCHEDULE == poly || $LR_SCHEDULE == constant ]] || fail "--lr-schedule must be poly or constant, got '$LR_SCHEDULE'"
[[ $VALIDATION =~ ^0(\.[0-9]+)?$ ]] || fail "--validation-fraction must be a number in [0, 1), got '$VALIDATION'"
[[ $PRETRAIN_PHANTOMS =~ ^[0-9]+$ ]] || fail "--pretrain-phantoms must be a non-negative integer"
[[ -d $DATA ]] || fail "data folder not found: $DATA"
[[ -f $DATA/labels.json ]] || fail "$DATA/labels.json not found (the label set: {\"0\": \"background\", \"1\": \"L1\", ...})"
[[ -z $HELD_OUT || -d $HELD_OUT ]] || fail "held-out folder not found: $HELD_OUT"
if [[ -e $OUT/package && -z $OVERWRITE ]]; then fail "$OUT/package exists (give --overwrite to replace it)"; fi
command -v spine-rt >/dev/null || fail "spine-rt is not on PATH (activate the environment with spine-rt[train,export])"

mkdir -p "$OUT"
train_member() {  # train_member DIR SEED: pretraining, stage one, stage two of one member into DIR
  local dir=$1 seed=$2
  local common=(--preset tiny --lr-schedule "$LR_SCHEDULE" --seed "$seed" --threads "$THREADS" --iterations "$ITERATIONS"
                --no-progress)
  [[ -n $OVERWRITE ]] && common+=(--overwrite)
  local init=()
  mkdir -p "$dir"
  if [[ $PRETRAIN_PHANTOMS -gt 0 ]]; then
    echo "== stage one pretraining: $PRETRAIN_PHANTOMS phantoms at $SPACING mm (seed $seed)"
    spine-rt train stage1 --phantoms "$PRETRAIN_PHANTOMS" --labels "$DATA/labels.json" --spacing "$SPACING" \
      --crop "$CROP" --batch-size 4 --cps-rampup 500 --epochs "$PRETRAIN_EPOCHS" --spine-augmentation \
      "${common[@]}" --out "$dir/pretrain_stage1"
    init=(--init "$dir/pretrain_stage1/best.pt")
  fi
  echo "== stage one on $DATA (seed $seed)"
  spine-rt train stage1 --data "$DATA" --validation-fraction "$VALIDATION" --spacing native --crop "$CROP" \
    --batch-size 4 --cps-rampup $((EPOCHS1 * ITERATIONS / 2)) --epochs "$EPOCHS1" --spine-augmentation "${init[@]}" \
    "${common[@]}" --out "$dir/stage1"
  echo "== stage two on $DATA (seed $seed)"
  spine-rt train stage2 --data "$DATA" --validation-fraction "$VALIDATION" --stage-one "$dir/stage1/best.pt" \
    --patch "$PATCH" --batch-size 4 --epochs "$EPOCHS2" --spine-augmentation "${common[@]}" --out "$dir/stage2"
}

if [[ $PRETRAIN_PHANTOMS -gt 0 ]]; then
  # the phantoms are drawn at the real scans' own spacing, so the pretrained filters see the same grid
  SPACING=$(python - "$DATA" <<'EOF'
import sys
from spine_rt.io import read_image
from spine_rt.train.mr_data import find_labelled_scans
from spine_rt.train.volumes import native_spacing
print(",".join(f"{s:.6g}" for s in native_spacing(read_image(find_labelled_scans(sys.argv[1])[0].image))))
EOF
)
fi

CHECKPOINTS=()
if [[ $MEMBERS -eq 1 ]]; then
  train_member "$OUT" "$SEED"
  CHECKPOINTS=(--checkpoint stage1="$OUT/stage1/best.pt" --checkpoint stage2="$OUT/stage2/best.pt")
else
  # the members train side by side (seeds SEED, SEED+1, ...), each with --threads threads; logs in OUT/memberM/log.txt
  PIDS=()
  for member in $(seq 1 "$MEMBERS"); do
    mkdir -p "$OUT/member$member"
    echo "== member $member of $MEMBERS (seed $((SEED + member - 1))): log in $OUT/member$member/log.txt"
    train_member "$OUT/member$member" $((SEED + member - 1)) > "$OUT/member$member/log.txt" 2>&1 &
    PIDS+=($!)
  done
  FAILED=""
  for member in $(seq 1 "$MEMBERS"); do
    wait "${PIDS[$((member - 1))]}" || FAILED="$FAILED $member"
  done
  [[ -z $FAILED ]] || { echo "train_real.sh: error: member(s)$FAILED failed (see $OUT/memberM/log.txt)" >&2; exit 1; }
  for member in $(seq 1 "$MEMBERS"); do
    CHECKPOINTS+=(--checkpoint stage1="$OUT/member$member/stage1/best.pt")
  done
  for member in $(seq 1 "$MEMBERS"); do  # stage-two fold m is paired with stage-one fold m
    CHECKPOINTS+=(--checkpoint stage2="$OUT/member$member/stage2/best.pt")
  done
fi

echo "== export (the package takes what training used; the level recount on by default)"
spine-rt export sshsnet "${CHECKPOINTS[@]}" --relabel-levels --out "$OUT/package" $OVERWRITE

if [[ -n $HELD_OUT ]]; then
  echo "== held-out evaluation through the package"
  spine-rt evaluate "$OUT/package" "$HELD_OUT" "$HELD_OUT" --json "$OUT/held_out.json" --csv "$OUT/held_out.csv"
fi
echo "package: $OUT/package"
