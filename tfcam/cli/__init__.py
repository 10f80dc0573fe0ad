"""The `tfcam` command line: `tfcam explain`, `tfcam layers`, `tfcam methods`.

    tfcam explain model.keras cat.jpg dog.png --method grad_cam --method relevance_cam
    tfcam layers model.keras
    tfcam methods

The console script starts in `tfcam_console` (which keeps TensorFlow's native log lines off
the console before TensorFlow is imported) and runs `main` here.
"""

from tfcam.cli.main import main

__all__ = ["main"]
