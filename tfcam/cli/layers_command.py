"""`tfcam layers MODEL`: the layers a CAM method can explain, and the default one."""

from __future__ import annotations

from tfcam.cli.model_file import load_model


def add_arguments(parser) -> None:
    parser.add_argument("model", help="the saved Keras model (.keras or .h5)")


def run(args, log=print) -> int:
    from tfcam.layer_lookup import explainable_layers

    model = load_model(args.model)
    found = explainable_layers(model)
    if not found:
        log(f"model '{model.name}' has no layer with spatial outputs: explain it with an "
            "input-space method (tfcam methods lists them), e.g. --method saliency")
        return 0
    width = max(len(layer.path) for layer in found)
    kind_width = max(len(layer.kind) for layer in found)
    log(f"{'layer':<{width}}  {'type':<{kind_width}}  output shape")
    for layer in found:
        shape = "(" + ", ".join("None" if s is None else str(s) for s in layer.shape) + ")"
        mark = ("  <- default (no --layer)" if layer.default else
                "  (1×1: a CAM here is constant)" if layer.pointwise else
                "  (class token only: a CAM here is 0)" if layer.class_token_only else "")
        grid = f"  [{layer.tokens}]" if layer.tokens else ""
        log(f"{layer.path:<{width}}  {layer.kind:<{kind_width}}  {shape}{grid}{mark}")
    log(f"{len(found)} layers; pass one with --layer NAME (a nested model's layer as outer/inner)")
    return 0
