"""``python -m benchmarks.report <run folder>``: rebuild summary.md and the figures."""
import sys
from pathlib import Path

from ..report.render import write_report

if __name__ == "__main__":
    print(write_report(Path(sys.argv[1])))
