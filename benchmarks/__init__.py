"""tfcam's benchmark suite: a Hydra app, configs in ``conf/``. In a checkout it is this
``benchmarks`` package (``python -m benchmarks``); the wheel installs it as
``tfcam_benchmarks`` with ``conf`` inside it (``tfcam bench``; pyproject.toml, docs/install.md),
so the code never names its own package: imports are relative, and config targets are built
from the name it runs under (:func:`benchmarks.configs.package_name`).

Which explanation method should I trust, at which layer, on which architecture? The app
answers with a tidy results table, ``summary.md`` and figures in Hydra's run folder.
``tfcam`` never imports this package (``tfcam bench`` starts the installed one by name); this
package uses only tfcam's public API.
"""
