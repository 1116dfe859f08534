"""Face detector: YOLO face localisation (ultralytics), training and precision/recall/F1 evaluation."""
