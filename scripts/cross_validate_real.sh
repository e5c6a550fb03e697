#!/usr/bin/env bash
# K-fold cross-validation of the real-data recipe (scripts/train_real.sh): train on K-1 parts, score the
# held-out part through the product path (spine-rt evaluate), rotate; then one summary over every case.
#
#   scripts/cross_validate_real.sh DATA OUT [--folds 5] [--parallel 1] [train_real.sh options...]
#
# DATA: NAME_image.nii.gz / NAME_label.nii.gz pairs and labels.json. Fold k holds out the k-th of K
# consecutive blocks of the sorted names (vb3_01..10, 5 folds: fold k holds out vb3_{2k-1} and vb3_{2k}),
# and trains on the rest. OUT/fold<k>/{data,held} are
# symlinks, OUT/fold<k>/out the recipe's output (package, held_out.json), OUT/fold<k>/log.txt its log,
# OUT/summary.json the cases of every fold (mean, median, worst, level-shifted cases).
# --parallel N runs N folds at once; each fold trains train_real.sh's two members with one thread each,
# so on a 2-core machine keep --parallel 1 (or --parallel 2 --members 1 --threads 1).
# docs/training.md, "Cross-validation", has the figures measured with it. Exit 2 on bad arguments.
set -euo pipefail

fail() { echo "cross_validate_real.sh: error: $*" >&2; exit 2; }
[[ $# -ge 2 ]] || { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
DATA=$(cd "$1" 2>/dev/null && pwd) || fail "data folder not found: $1"
OUT=$2
shift 2
FOLDS=5 PARALLEL=1 PASS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --folds) [[ $# -ge 2 ]] || fail "--folds needs a value"; FOLDS=$2; shift 2 ;;
    --parallel) [[ $# -ge 2 ]] || fail "--parallel needs a value"; PARALLEL=$2; shift 2 ;;
    *) PASS+=("$1"); shift ;;
  esac
done
[[ $FOLDS =~ ^[2-9][0-9]*$ ]] || fail "--folds must be an integer >= 2"
[[ $PARALLEL =~ ^[1-9][0-9]*$ ]] || fail "--parallel must be a positive integer"
[[ -f $DATA/labels.json ]] || fail "$DATA/labels.json not found"
mapfile -t NAMES < <(cd "$DATA" && ls -1 -- *_image.nii.gz 2>/dev/null | sed 's/_image\.nii\.gz$//' | sort)
[[ ${#NAMES[@]} -ge $FOLDS ]] || fail "${#NAMES[@]} image/label pairs in $DATA: fewer than --folds $FOLDS"
for name in "${NAMES[@]}"; do [[ -f $DATA/${name}_label.nii.gz ]] || fail "$DATA/${name}_label.nii.gz not found"; done
[[ ! -e $OUT ]] || fail "$OUT exists (choose a new folder)"
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)

count=${#NAMES[@]}
for ((k = 1; k <= FOLDS; k++)); do
  first=$(( (k - 1) * count / FOLDS )) last=$(( k * count / FOLDS ))
  mkdir -p "$OUT/fold$k/data" "$OUT/fold$k/held"
  cp "$DATA/labels.json" "$OUT/fold$k/data/"; cp "$DATA/labels.json" "$OUT/fold$k/held/"
  for ((i = 0; i < count; i++)); do
    part=data; (( i >= first && i < last )) && part=held
    ln -s "$DATA/${NAMES[$i]}_image.nii.gz" "$DATA/${NAMES[$i]}_label.nii.gz" "$OUT/fold$k/$part/"
  done
done

run_fold() {
  local k=$1 start
  start=$(date +%s)
  if "$SCRIPT_DIR/train_real.sh" "$OUT/fold$k/data" "$OUT/fold$k/out" --held-out "$OUT/fold$k/held" \
      "${PASS[@]}" > "$OUT/fold$k/log.txt" 2>&1; then
    echo "fold $k: done in $(( $(date +%s) - start )) s"
  else
    echo "fold $k: FAILED (see $OUT/fold$k/log.txt)"; return 1
  fi
}
status=0
for ((k = 1; k <= FOLDS; k += PARALLEL)); do
  pids=()
  for ((j = k; j < k + PARALLEL && j <= FOLDS; j++)); do run_fold "$j" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid" || status=1; done
done

python - "$OUT" "$FOLDS" <<'EOF'
import json, statistics, sys
from pathlib import Path
out, folds = Path(sys.argv[1]), int(sys.argv[2])
cases = []
for k in range(1, folds + 1):
    report = out / f"fold{k}" / "out" / "held_out.json"
    if report.exists():
        cases += [{"fold": k, "name": c["name"], "mean_dice": c["mean_dice"], "level_shifts": c["level_shifts"]}
                  for c in json.loads(report.read_text())["cases"]]
scores = [c["mean_dice"] for c in cases if c["mean_dice"] is not None]
summary = {"folds": folds, "cases": cases, "mean_dice": statistics.mean(scores) if scores else None,
           "median_dice": statistics.median(scores) if scores else None,
           "worst": min(cases, key=lambda c: c["mean_dice"] or 0.0)["name"] if cases else None,
           "level_shifted_cases": [c["name"] for c in cases if c["level_shifts"]]}
(out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
for c in cases:
    print(f"fold {c['fold']} {c['name']}: mean Dice {c['mean_dice']:.4f}"
          + (" level-shifted" if c["level_shifts"] else ""))
if scores:
    print(f"{len(scores)} cases: mean Dice {summary['mean_dice']:.4f}, median {summary['median_dice']:.4f}, "
          f"worst {min(scores):.4f} ({summary['worst']}), level-shifted: {len(summary['level_shifted_cases'])}")
EOF
exit $status
