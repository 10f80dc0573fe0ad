"""The base of the methods that run the model on copies of each image: Integrated
Gradients' path points and SmoothGrad's noisy copies.

`batch_size` counts images, as for every method. The copies of a call's images go through
the model together, so a call runs images × `copies` model inputs; `chunk_size` caps that
(model inputs per call; None: sized to the device's memory, as the perturbation methods'
chunks are), so images per call = max(1, min(batch_size, chunk_size // copies)). The top-1
class is found on the images before they are copied (`expands_inputs`).
"""

from __future__ import annotations

from tfcam import backend
from tfcam.inputs import batch_shape
from tfcam.method_base import InputSpaceMethod
from tfcam.pairs import auto_chunk_size


class InputCopiesMethod(InputSpaceMethod):
    """An input-space method that explains each image with `copies` copies of it."""

    expands_inputs = True
    copies: int = 1  # set by the method: steps, samples

    def __init__(self, model, layer=None, *, chunk_size: int | None = None, **kwargs):
        super().__init__(model, None, **kwargs)
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive int (model inputs per call) or "
                             f"None (sized to the device), got {chunk_size}")
        self.chunk_size = chunk_size

    def images_per_call(self, images) -> int:
        inputs = self.chunk_size or auto_chunk_size(self.program, batch_shape(images),
                                                    backend.memory_budget(), backward=True)
        return max(1, min(self.batch_size, inputs // self.copies))
