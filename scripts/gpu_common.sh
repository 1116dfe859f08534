# Sourced by the GPU recipes (train_gpu.sh, train_detector_gpu.sh), after they set REPO, PROJECT and OUT:
# the fer command, the call's log, and the data carried in .gpu_data.

if command -v fer >/dev/null 2>&1; then
    FER=(fer)
else  # the GPU machine: ferkit from this checkout, on the Python that holds PyTorch
    export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
    FER=(python3 -m ferkit)
fi
mkdir -p "$PROJECT" "$OUT"
LOG="$OUT/log.txt"
say() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG"; }

# data_root: sets DATA_ROOT to the datasets carried in $REPO/.gpu_data (unpacked once), else to the
# shared data folder beside the checkout
data_root() {
    DATA_ROOT="$REPO/../shared/data"
    if [[ -d "$REPO/.gpu_data" ]]; then
        DATA_ROOT="${UNPACK_ROOT:-/tmp/ferkit_data}"
        if [[ ! -f "$DATA_ROOT/.unpacked" ]]; then
            (cd "$REPO" && python3 -m tools.gpu_data unpack .gpu_data --out "$DATA_ROOT") | tee -a "$LOG"
            touch "$DATA_ROOT/.unpacked"
        fi
    fi
}
