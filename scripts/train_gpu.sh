#!/usr/bin/env bash
# The classifier recipe for a lent GPU, in one call of at most MINUTES minutes, resumable between calls:
#   1. SEEDS teachers (ARCH, default alexnet_m), each started from CARRIED/teacher_sN.pt (an earlier
#      session's OUT) when there, else as TEACHER_INIT says: widen (the shipped weights widened to ARCH
#      with `fer widen-classifier`, seed N, fine-tuned at WIDEN_LR) or scratch (at LR); a cosine schedule of
#      up to EPOCHS epochs cut to the time each gets (--hours), weights averaged by EMA;
#   2. their ensemble, evaluated on every val set;
#   3. the student (STUDENT_ARCH, default the shipped alexnet_s, starting from the shipped weights),
#      distilled from the teachers, scored on each augmented batch (DISTILL=online) or once (DISTILL=once);
#   4. OUT gets candidate.pt (the student), the teachers in float16, results.json (val figures of each
#      teacher, the ensemble and the student) and the log.
# A stage whose run folder exists is resumed (finished ones are skipped), so a second call goes on where the
# first stopped, as long as PROJECT survives (a warm machine, or carried back).
#
# Data: DATA="dir1 dir2" (image folders ROOT/<split>/<class>/), or a .gpu_data folder packed here with
#   python -m tools.gpu_data pack --data ../shared/data --out .gpu_data
# and unpacked on the GPU machine by this script.
# Dry run on a CPU (CI does this): DEVICE=cpu EPOCHS=1 STUDENT_EPOCHS=1 DATA=tiny/ bash scripts/train_gpu.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINUTES="${MINUTES:-8.5}"
DEVICE="${DEVICE:-cuda}"
ARCH="${ARCH:-alexnet_m}"
SEEDS="${SEEDS:-2}"
EPOCHS="${EPOCHS:-300}"
BATCH="${BATCH:-256}"
LR="${LR:-0.1}"
STUDENT_ARCH="${STUDENT_ARCH:-alexnet_s}"
STUDENT_INIT="${STUDENT_INIT:-default}"
STUDENT_EPOCHS="${STUDENT_EPOCHS:-100}"
DISTILL="${DISTILL:-online}"  # online: --distill-online; once: teachers scored once on the plain images
CARRIED="${CARRIED:-$REPO/.gpu_carry}"  # teachers from an earlier session's OUT, if any
RESTART_LR="${RESTART_LR:-0.03}"  # the peak of a carried teacher's new cycle
# widen: a few minutes of a widened shipped model beat a few minutes from scratch by far (on the CPU, 20
# epochs of a widened alexnet_m reached FER2013 val 0.689; the 2026-12-04 GPU teacher from scratch 0.551)
TEACHER_INIT="${TEACHER_INIT:-widen}"
WIDEN_LR="${WIDEN_LR:-0.03}"  # 0.015 at the CPU runs' batch 64, scaled by sqrt(4) for BATCH 256
CROP_MARGIN="${CROP_MARGIN:-0.05}"  # stored in every checkpoint made here: the shipped model's framing
if [[ "$TEACHER_INIT" != widen && "$TEACHER_INIT" != scratch ]]; then
    echo "train_gpu.sh: TEACHER_INIT must be widen or scratch, not '$TEACHER_INIT'" >&2
    exit 2
fi
read -r -a TEACHER_ARGS <<< "${TEACHER_ARGS:-}"  # more train-classifier options for the teachers, e.g. --mixup 0.2
PROJECT="${PROJECT:-$HOME/.cache/ferkit/runs/gpu_recipe}"
OUT="${OUT:-$PROJECT/out}"
START="$(date +%s)"

source "$REPO/scripts/gpu_common.sh"  # FER, LOG, say, data_root

if [[ -z "${DATA:-}" ]]; then
    data_root
    DATA="$DATA_ROOT/fer2013 $DATA_ROOT/expw"
fi
DATA_ARGS=()
for d in $DATA; do
    [[ -d "$d" ]] || { echo "train_gpu.sh: dataset folder $d not found (set DATA)" >&2; exit 2; }
    DATA_ARGS+=(--data "$d")
done

# hours left in this call, less a margin for evaluation and copying
left_hours() {
    python3 -c "import sys,time; print(max(0.001, ($MINUTES*60 - (time.time()-$START) - 45) / 3600))"
}
share_hours() {  # $1: fraction of the whole call
    python3 -c "print(max(0.001, $MINUTES * $1 / 60))"
}

# train RUN_NAME HOURS ARGS...: a new run with a time budget, or the resumed one
train() {
    local name="$1" hours="$2"
    shift 2
    local run="$PROJECT/$name"
    if [[ -f "$run/weights/last.pt" ]]; then
        say "resuming $name"
        "${FER[@]}" train-classifier --resume "$run" --session-hours "$(left_hours)" 2>&1 | tee -a "$LOG"
    else
        rm -rf "$run"  # a start that wrote no epoch: begin again
        say "training $name (budget $hours h)"
        "${FER[@]}" train-classifier "${DATA_ARGS[@]}" --device "$DEVICE" --project "$PROJECT" --name "$name" \
            --hours "$hours" --session-hours "$(left_hours)" "$@" 2>&1 | tee -a "$LOG"
    fi
}

TEACHERS=()
for ((seed = 0; seed < SEEDS; seed++)); do
    # a teacher brought back from an earlier session (OUT's float16 teacher_sN.pt, carried in CARRIED) starts
    # a new cosine cycle from its weights: a machine lent for minutes cannot keep a 300-epoch run, but the
    # teachers can grow cycle by cycle across sessions
    start=(--arch "$ARCH" --lr "$LR")
    carried="$CARRIED/teacher_s$seed.pt"
    widened="$PROJECT/widened_s$seed.pt"
    if [[ -f "$carried" ]]; then
        start=(--init "$carried" --lr "$RESTART_LR")
        say "teacher_s$seed: a new cycle from $carried"
    elif [[ "$TEACHER_INIT" == widen ]]; then
        if [[ ! -f "$widened" ]]; then
            "${FER[@]}" widen-classifier --weights default --arch "$ARCH" --seed "$seed" --out "$widened" \
                2>&1 | tee -a "$LOG"
        fi
        start=(--init "$widened" --lr "$WIDEN_LR")
        say "teacher_s$seed: the shipped weights widened to $ARCH"
    fi
    train "teacher_s$seed" "$(share_hours "0.5 / $SEEDS")" "${start[@]}" --seed "$seed" --epochs "$EPOCHS" \
        --batch-size "$BATCH" --ema 0.999 --patience 100000 --crop-margin "$CROP_MARGIN" "${TEACHER_ARGS[@]}"
    if [[ -f "$PROJECT/teacher_s$seed/weights/best.pt" ]]; then TEACHERS+=("$PROJECT/teacher_s$seed/weights/best.pt"); fi
done
if ((${#TEACHERS[@]} == 0)); then
    say "no teacher finished an epoch in this call: call again to go on"
    exit 0
fi

STUDENT_ARGS=(--arch "$STUDENT_ARCH" --epochs "$STUDENT_EPOCHS" --batch-size "$BATCH" --ema 0.999 --patience 100000
    --crop-margin "$CROP_MARGIN")
[[ -n "$STUDENT_INIT" ]] && STUDENT_ARGS+=(--init "$STUDENT_INIT" --lr 0.02) || STUDENT_ARGS+=(--lr "$LR")
for t in "${TEACHERS[@]}"; do STUDENT_ARGS+=(--teacher "$t"); done
[[ "$DISTILL" == online ]] && STUDENT_ARGS+=(--distill-online)
train student "$(share_hours 0.2)" "${STUDENT_ARGS[@]}"  # the rest: data loading, scoring, evaluation

say "evaluating"
python3 - "$OUT" "$PROJECT" "${TEACHERS[@]}" <<'PY' 2>&1 | tee -a "$LOG"
import json, shutil, sys
from pathlib import Path
import torch
from ferkit.classifier.checkpoint import read_checkpoint

out, project, teachers = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
results = {}
for path in [*teachers, str(project / "student" / "weights" / "best.pt")]:
    if not Path(path).is_file():  # the call ended before this stage's first epoch: the next call goes on
        print(f"{path}: not there yet")
        continue
    ckpt = read_checkpoint(path)
    name = Path(path).parent.parent.name  # RUN/weights/best.pt
    results[name] = ckpt["metrics"]
    if name != "student":  # float16 copies: the teachers, small enough to bring back
        half = {**ckpt, "state_dict": {k: v.half() if v.is_floating_point() else v
                                       for k, v in ckpt["state_dict"].items()}}
        torch.save(half, out / f"{name}.pt")
if (project / "student" / "weights" / "best.pt").is_file():
    shutil.copy(project / "student" / "weights" / "best.pt", out / "candidate.pt")
(out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
for name, m in results.items():
    print(name, {k: round(v["accuracy"], 4) for k, v in m["val"].items()})
PY
WEIGHTS=()
for t in "${TEACHERS[@]}"; do WEIGHTS+=(--weights "$t"); done
"${FER[@]}" eval-classifier "${WEIGHTS[@]}" "${DATA_ARGS[@]}" --device "$DEVICE" --backend torch --json \
    > "$OUT/ensemble.json" 2>>"$LOG"
say "the teachers' ensemble: $OUT/ensemble.json"
say "done in $(( $(date +%s) - START )) s: $OUT"
