"""tfcam's benchmark suite: a Hydra app (``python -m benchmarks``), configs in ``conf/``.

Which explanation method should I trust, at which layer, on which architecture? The app
answers with a tidy results table, ``summary.md`` and figures in Hydra's run folder.
``tfcam`` never imports this package; this package uses only tfcam's public API.
"""
