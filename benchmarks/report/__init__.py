"""summary.md and figures from a run folder's tables, rebuildable at any time:
``python -m benchmarks.report <run folder>``.

``common`` (orders, markdown), ``stats`` (mean ± std, Win %, paired tests), ``findings``
(claims, one function per task), ``sections`` (the summary's section of each task),
``speed`` (the speed section and goals), ``figures``, ``render`` (summary.md: environment,
sections, findings, figures), ``sweep`` (a ``-m`` sweep's jobs gathered). This package
module imports none of them, so none of them imports through it.
"""
