"""Operating defaults of the shipped detector, chosen on the validation split (see docs/weights.md)."""

DEFAULT_IMGSZ = "auto"  # the detector's input follows the photo's size (ferkit.detector.sizing)
TRACE_IMGSZ = 512  # the square size exported detectors are traced at (their sizes stay dynamic)
DEFAULT_CONF = 0.35
DEFAULT_NMS_IOU = 0.5
DEFAULT_MAX_DET = 300
DEFAULT_CONTAINED = 0.8  # a box with this share of its area inside a higher-scored box is dropped
# photos smaller than imgsz are enlarged only until their long side reaches this (0: their own size);
# chosen with benchmarks/small_photos.py
DEFAULT_MIN_SIDE = 384
# big JPEG photos are decoded at 1/2, 1/4 or 1/8 scale, keeping at least this long side (crops stay sharp)
# small photos (long side up to QUICK_MAX_SIDE) first run at this size (0: never); the answer is kept when it
# is one clear face (score >= QUICK_CONF, shorter side >= QUICK_MIN_SHARE of the photo's, no other candidate
# scored >= QUICK_FLOOR), else the photo runs again at the input size. Chosen with benchmarks/quick_pass.py:
# 97 % of portraits settled at 2.3x fewer FLOPs, close-ups found as often as without it
DEFAULT_QUICK_SIZE = 256
QUICK_MAX_SIDE = 400
QUICK_CONF, QUICK_FLOOR, QUICK_MIN_SHARE = 0.5, 0.1, 0.25
# the quick pass's boxes, against the full pass's (at DEFAULT_MIN_SIDE) on the same portraits, are wider and
# taller by this share per 128 px below it (median over 1,000 portraits, benchmarks/quick_pass.py: +3.0 % /
# +1.5 % at 256, +1.5 % / +0.8 % at 320); a settled box is shrunk by it about its centre, so that faces are
# framed for the classifier as the full pass frames them
QUICK_BOX_BIAS_PER_128 = (0.030, 0.016)


def quick_box_bias(quick: int) -> tuple[float, float]:
    """How much wider and taller (as factors) the quick pass at ``quick`` px draws a face's box."""
    steps = max(DEFAULT_MIN_SIDE - quick, 0) / 128
    return 1 + QUICK_BOX_BIAS_PER_128[0] * steps, 1 + QUICK_BOX_BIAS_PER_128[1] * steps


DEFAULT_DECODE_SIDE = 1024  # at least the auto ceiling (960), so the detector never sees an upscaled decode
CLOSEUPS_N = 2000  # close-up photos `fer datasets closeups` writes by default (detector training data)
EVAL_IOU = 0.5  # a detection counts as a hit at this IoU with a face (fer eval-detector, benchmarks)
EVAL_MIN_SIZE = 24.0  # faces with a shorter side below this (px) are ignored when scoring
