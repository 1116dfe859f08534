# Sourced by the GPU recipes (train_gpu.sh, train_detector_gpu.sh), after they set REPO, PROJECT and OUT:
# the fer command, the call's log, the wheels carried in .whl and the data carried in .gpu_data.

if command -v fer >/dev/null 2>&1; then
    FER=(fer)
else  # the GPU machine: ferkit from this checkout, on the Python that holds PyTorch
    export PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}"
    FER=(python3 -m ferkit)
fi
mkdir -p "$PROJECT" "$OUT"
LOG="$OUT/log.txt"
say() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG"; }

# Wheels carried in WHEELS (default .whl, fetched here by python -m tools.gpu_wheels) are installed once
# into SITE and put on the path: what the GPU machine's Python lacks (ultralytics and its company).
WHEELS="${WHEELS:-$REPO/.whl}"
SITE="${SITE:-/tmp/ferkit_site}"
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    if [[ ! -f "$SITE/.installed" ]]; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
            "$WHEELS"/*.whl 2>&1 | tee -a "$LOG"
        touch "$SITE/.installed"
        say "installed $(ls "$WHEELS"/*.whl | wc -l) carried wheel(s) into $SITE"
    fi
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi

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
