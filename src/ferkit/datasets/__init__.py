"""Datasets: FER2013 (CSV and folders), label groupings, WIDER FACE -> YOLO, face crops, augmentation."""
