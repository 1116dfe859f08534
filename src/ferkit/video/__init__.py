"""Video and camera input: sampled frames, face tracks, smoothed emotions, per-track summaries."""
