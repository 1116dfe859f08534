#!/usr/bin/env bash
# The detector recipe for a lent GPU, in calls of at most MINUTES minutes, resumable between calls:
#   1. the WIDER FACE photos as a YOLO data set (fer datasets wider-to-yolo), split as the shipped detector's
#      weights record it (VAL_EVENTS=recorded: its 6 held-out events and 10 % of the other photos, so that
#      the figures compare), or VAL_EVENTS=none to train on all 20 events; close-ups added (CLOSEUPS photos,
#      COVER_SHARE of them with the face partly covered);
#   2. each of MODELS (default yolo11n-face, then yolo11s-face) trained for EPOCHS epochs (a fixed schedule:
#      the published recipes' 300), images cached in RAM, all CPU cores loading; a call that runs out of time
#      stops the training after its last whole epoch (ultralytics saves last.pt each epoch) and the next
#      call resumes it (fer train-detector --resume);
#   3. OUT gets each model's best.pt so far (MODEL.pt) and its eval-detector figures on both val splits
#      (MODEL.json), the shipped detector's on the same splits (default.json), and the log.
# Ship a model only if it beats the shipped detector on both val splits, at the pipeline's speed bar.
#
# Data: WIDER=<WIDER FACE root>, or a .gpu_data folder packed here with
#   python -m tools.gpu_data pack --data ../shared/data --datasets wider_face --out .gpu_data
# and unpacked on the GPU machine by this script (FACES: face-crop folders pasted into close-ups, optional).
# Dry run on a CPU (CI does this): DEVICE=cpu EPOCHS=1 IMGSZ=64 WIDER=tiny/ bash scripts/train_detector_gpu.sh
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINUTES="${MINUTES:-8.5}"
DEVICE="${DEVICE:-cuda}"
MODELS="${MODELS:-yolo11n-face yolo11s-face}"
EPOCHS="${EPOCHS:-300}"
IMGSZ="${IMGSZ:-640}"
BATCH="${BATCH:-64}"
WORKERS="${WORKERS:-$(nproc)}"
VAL_EVENTS="${VAL_EVENTS:-recorded}"
CLOSEUPS="${CLOSEUPS:-2000}"
COVER_SHARE="${COVER_SHARE:-0.3}"  # close-ups with the face partly covered (the weakest case measured)
PROJECT="${PROJECT:-$HOME/.cache/ferkit/runs/detector_gpu}"
OUT="${OUT:-$PROJECT/out}"
START="$(date +%s)"

source "$REPO/scripts/gpu_common.sh"  # FER, LOG, say, data_root
seconds_left() {  # in this call, a minute kept for the figures
    python3 -c "import time; print(int($MINUTES * 60 - (time.time() - $START) - 60))"
}

if [[ -z "${WIDER:-}" ]]; then
    data_root
    WIDER="$DATA_ROOT/wider_face"
    FACES="${FACES:-$(ls -d "$DATA_ROOT"/fer2013 "$DATA_ROOT"/expw 2>/dev/null | tr '\n' ' ')}"
fi
[[ -d "$WIDER" ]] || { echo "train_detector_gpu.sh: WIDER FACE root $WIDER not found (set WIDER)" >&2; exit 2; }

if [[ "$VAL_EVENTS" == "recorded" ]]; then  # the shipped detector's held-out events, as its weights say
    VAL_EVENTS="$(python3 -c "
from ferkit.detector.face_detector import FaceDetector
split = FaceDetector('default', device='cpu').recorded_split or {}
print(','.join(split.get('val_events', [])) or 'auto')")"
fi

DATA_YAML="$PROJECT/yolo/data.yaml"
if [[ ! -f "$PROJECT/closeups/data.yaml" && ! -f "$DATA_YAML.done" ]]; then
    say "converting $WIDER (held-out events: $VAL_EVENTS)"
    rm -rf "$PROJECT/yolo"
    "${FER[@]}" datasets wider-to-yolo --wider "$WIDER" --out "$PROJECT/yolo" --val-events "$VAL_EVENTS" \
        --skip-bad 2>&1 | tee -a "$LOG"
    touch "$DATA_YAML.done"
fi
if ((CLOSEUPS > 0)); then
    if [[ ! -f "$PROJECT/closeups/data.yaml" ]]; then
        FACE_ARGS=()
        for d in ${FACES:-}; do [[ -d "$d" ]] && FACE_ARGS+=(--faces "$d"); done
        say "adding $CLOSEUPS close-ups"
        "${FER[@]}" datasets closeups --data "$DATA_YAML" --out "$PROJECT/closeups" --n "$CLOSEUPS" \
            --cover-share "$COVER_SHARE" "${FACE_ARGS[@]}" 2>&1 | tee -a "$LOG"
    fi
    DATA_YAML="$PROJECT/closeups/data.yaml"
fi

for model in $MODELS; do
    run="$PROJECT/$model"
    left="$(seconds_left)"
    if ((left < 60)); then
        say "no time left in this call for $model: call again to go on"
        break
    fi
    if [[ -f "$run/weights/last.pt" ]]; then
        say "resuming $model ($left s)"
        CMD=("${FER[@]}" train-detector --resume "$run" --device "$DEVICE")
    else
        rm -rf "$run"  # a start that saved no epoch: begin again
        say "training $model: $EPOCHS epochs at $IMGSZ ($left s in this call)"
        CMD=("${FER[@]}" train-detector --data "$DATA_YAML" --model "$model" --epochs "$EPOCHS"
             --imgsz "$IMGSZ" --batch "$BATCH" --workers "$WORKERS" --cache --device "$DEVICE"
             --patience 100000 --project "$PROJECT" --name "$model")
    fi
    # out of time: Ctrl-C (SIGINT) ends it after ultralytics has saved the last whole epoch
    timeout --signal=INT --kill-after=30 "$left" "${CMD[@]}" 2>&1 | tail -n 40 | tee -a "$LOG" || true
done

say "evaluating"
"${FER[@]}" eval-detector --weights default --data "$WIDER" --val-events "$VAL_EVENTS" --device "$DEVICE" --json \
    > "$OUT/default.json" 2>>"$LOG"
for model in $MODELS; do
    best="$PROJECT/$model/weights/best.pt"
    [[ -f "$best" ]] || { say "$model: no epoch finished yet"; continue; }
    cp "$best" "$OUT/$model.pt"
    "${FER[@]}" eval-detector --weights "$best" --data "$WIDER" --val-events "$VAL_EVENTS" --device "$DEVICE" --json \
        > "$OUT/$model.json" 2>>"$LOG"
done
python3 - "$OUT" $MODELS default <<'PY' | tee -a "$LOG"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for name in sys.argv[2:]:
    path = out / f"{name}.json"
    if path.is_file():
        splits = json.loads(path.read_text())["splits"]
        print(name, {k: {"f1": round(v["at_conf"]["f1"], 4), "ap": round(v["ap"], 4)} for k, v in splits.items()})
PY
say "done in $(( $(date +%s) - START )) s: $OUT"
