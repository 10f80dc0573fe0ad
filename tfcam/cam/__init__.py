"""The class activation map methods: one module per method, each registered by id
(`tfcam.registry`); `tfcam/__init__` imports them all."""
