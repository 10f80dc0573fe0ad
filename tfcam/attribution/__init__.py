"""The input-space methods (gradients, SmoothGrad, Integrated Gradients, occlusion, Guided
Backprop): one module per method family, each registered by id (`tfcam.registry`)."""
