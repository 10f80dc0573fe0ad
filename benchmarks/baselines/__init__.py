"""Baselines run through the same metrics as tfcam: tf-keras-vis and reference maps."""
