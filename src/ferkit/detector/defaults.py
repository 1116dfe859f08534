"""Operating defaults of the shipped detector, chosen on the validation split (see docs/weights.md)."""

DEFAULT_IMGSZ = 512
DEFAULT_CONF = 0.35
DEFAULT_NMS_IOU = 0.5
DEFAULT_MAX_DET = 300
DEFAULT_CONTAINED = 0.8  # a box with this share of its area inside a higher-scored box is dropped
DEFAULT_UPSCALE = True  # photos smaller than imgsz are enlarged to it (False: detected at their own size)
