"""Emotion classifier: AlexNet-family models, checkpoints, training, evaluation and inference."""
