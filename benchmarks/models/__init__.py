"""Model builders (keras.applications and small CPU-sized nets) and the cached training."""
