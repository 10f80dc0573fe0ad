"""The reverse walk: relevance from the output down to a layer (or the input), step by step.

`Walk(program, composite, stop)` plans once, in Python: the steps of the traced program that
lie between the stop key and the output, and the rule of each (an unsupported layer is
reported here, before anything runs). `walk.forward(images)` records every tensor of the
forward pass; `walk.backward(env, seeds)` visits the steps in reverse, calls each rule with
the recorded inputs and outputs, and adds up relevance by key (a tensor read by several
steps, such as a residual block's input, receives the sum of their relevances). Everything
is `keras.ops`, so forward and backward trace into one compiled function.

Without a stop key the walk goes to the model's inputs, all of them for a model with several
(`walk.stops`); `backward` returns the relevance of each.

Relevance that flows to a tensor which does not depend on the stop key (a residual
shortcut that bypasses the explained layer) leaves the walk there: the relevance at the
layer is the share that passed through it.
"""

from __future__ import annotations

import dataclasses
import functools

from keras import ops

from tfcam import graph
from tfcam.inputs import feeds
from tfcam.lrp import composites as _composites
from tfcam.lrp.canonizers import BatchNormFolding
from tfcam.lrp.linear import is_linear_layer, linear_map
from tfcam.lrp.rules import Pass, Rule, as_float32


@dataclasses.dataclass(eq=False)
class Site:
    """One step of the walk, as a rule sees it."""

    step: graph.Step
    rule: Rule
    first: bool  # the first Dense/conv layer on its path from the input
    inputs_nonnegative: bool  # inputs known to be >= 0 (after a ReLU, pooling of it, ...)
    wanted: tuple  # per input: does its relevance go on down the walk
    folded: graph.Step | None = None  # the BatchNorm step folded into this linear step
    canonizer: BatchNormFolding | None = None
    program: graph.Program | None = None

    @functools.cached_property
    def gates(self) -> tuple:
        """Per input: is it a gate of a product (`gate_inputs`)? Found on first use, by the
        rules that read it, not for every step."""
        if self.program is None:
            raise ValueError(f"the site of '{self.path}' was made without its program: "
                             "pass program= to tell its gates")
        return gate_inputs(self.program, self.step)

    @property
    def layer(self):
        return self.step.layer

    @property
    def path(self) -> str:
        return self.step.path

    @property
    def output_keys(self) -> tuple:
        """Keys of the outputs the rule sees: the folded BatchNorm's when there is one."""
        return self.folded.outputs if self.folded is not None else self.step.outputs

    @property
    def linear(self):
        """The layer's LinearMap (BatchNorm folded in), read now; None without weights."""
        if self.step.part == "activation":
            return None
        if self.folded is not None:  # Walk._plan gives a fold its canonizer
            canonizer = self.canonizer or BatchNormFolding()
            return canonizer.folded_map(self.step, self.folded)
        return linear_map(self.layer)

    def forward(self, *inputs) -> list:
        """The step's own computation on `inputs` (a list of outputs)."""
        return self.step(*inputs)


def gate_inputs(program: graph.Program, step: graph.Step) -> tuple:
    """Per input of `step`: is it a gate? An input computed from another input of the step
    (a squeeze-and-excitation gate from the block's input, hard_sigmoid(x) in x *
    hard_sigmoid(x)), or the output of a sigmoid-like activation."""
    keys = step.inputs
    if len(keys) < 2:
        return (False,) * len(keys)
    return tuple(
        any(o != k and _depends_on(program, k, o) for o in keys) or _gating(program, k)
        for k in keys)


_GATING = {"sigmoid", "hard_sigmoid"}


def _gating(program: graph.Program, key: str) -> bool:
    step = program.producer(key)
    activation = None if step is None else step.activation
    return getattr(activation, "__name__", None) in _GATING


def _depends_on(program: graph.Program, key: str, ancestor: str) -> bool:
    """Whether `key` is computed from `ancestor`."""
    seen, todo = set(), [key]
    while todo:
        k = todo.pop()
        if k == ancestor:
            return True
        step = program.producer(k)
        if step is None or k in seen:
            continue
        seen.add(k)
        todo.extend(step.inputs)
    return False


class Walk:
    """The plan of a backward walk from `seed_keys` (default: the logits) to `stop` (default:
    the model's inputs, `stops`; `stop` is then the first input)."""

    def __init__(self, program: graph.Program, composite, stop: str | None = None,
                 seed_keys=None):
        self.program = program
        self.composite = _composites.get(composite)
        self.stop = stop if stop is not None else program.input_keys[0]
        self.stops = (stop,) if stop is not None else tuple(program.input_keys)
        self.seed_keys = tuple(seed_keys) if seed_keys is not None else (program.logit_key,)
        extra = () if self.stop in program.input_keys else (self.stop,)
        self.wants = self.seed_keys + extra
        self.sites = self._plan()

    def _plan(self) -> list[Site]:
        program, composite = self.program, self.composite
        canonizer = BatchNormFolding() if composite.canonize else None
        folds = canonizer.pairs(program) if canonizer else {}
        plan = program.plan(frozenset(program.input_keys), self.wants)
        downstream = set(self.stops)
        after_linear: dict[str, bool] = {}
        nonnegative: dict[str, bool] = {}
        walked: list[tuple[graph.Step, bool, bool]] = []  # (step, first, inputs_nonnegative)
        for step in plan:
            inputs_after_linear = any(after_linear.get(k, False) for k in step.inputs)
            linear = step.part != "activation" and is_linear_layer(step.layer)
            inputs_nonnegative = all(nonnegative.get(k, False) for k in step.inputs)
            out_nonnegative = _composites.has_nonnegative_output(step) or (
                inputs_nonnegative and _composites.keeps_nonnegative(step))
            for key in step.outputs:
                after_linear[key] = linear or inputs_after_linear
                nonnegative[key] = out_nonnegative
            if any(k in downstream for k in step.inputs):
                downstream.update(step.outputs)
                walked.append((step, linear and not inputs_after_linear, inputs_nonnegative))
        missing = [k for k in self.seed_keys if k not in downstream]
        if len(missing) == len(self.seed_keys):
            raise ValueError(
                f"the model's output does not depend on the explained tensor "
                f"({self._describe(self.stop)}): no relevance can reach it."
            )
        walked_steps = {s for s, _, _ in walked}
        folded_bn = {bn: lin for lin, bn in folds.items() if lin in walked_steps}
        sites = []
        for step, first, inputs_nonnegative in walked:
            wanted = tuple(k in downstream for k in step.inputs)
            rule: Rule
            if step in folded_bn:
                rule = Pass()
            else:
                rule = composite.rule_for(step, first=first)
            fold = folds.get(step) if step in folds and folds[step] in folded_bn else None
            site = Site(step, rule, first, inputs_nonnegative, wanted, fold, canonizer,
                        program)
            rule.check(site)
            sites.append(site)
        return sites

    def _describe(self, key: str) -> str:
        step = self.program.producer(key)
        return "the input" if step is None else f"output of '{step.path}'"

    # ------------------------------------------------------------------ running
    def forward(self, images) -> dict:
        """Every tensor of the forward pass needed by the walk: {key: tensor}; `images` is
        one array, or a tuple with one per input for a model with several."""
        return self.program.evaluate(feeds(self.program, images), self.wants)

    def backward(self, env: dict, seeds: dict) -> dict:
        """Relevance by key, from `seeds` ({key: relevance}) down to the stop key.

        Returns every key the walk reached (the stop keys included, zeros if none arrived).
        Relevance is float32, whatever the model computes in.
        """
        relevance = {k: as_float32(v) for k, v in seeds.items()}
        for site in reversed(self.sites):
            step = site.step
            rel_out = [relevance.get(k) for k in step.outputs]
            if all(r is None for r in rel_out):
                continue  # no relevance reached this step (e.g. an unused branch)
            rel_out = [ops.zeros_like(as_float32(env[k])) if r is None else r
                       for k, r in zip(step.outputs, rel_out)]
            inputs = [as_float32(env[k]) for k in step.inputs]
            outputs = [as_float32(env[k]) for k in site.output_keys]
            rel_in = site.rule.relevance_in(site, inputs, outputs, rel_out)
            if len(rel_in) != len(inputs):
                raise ValueError(
                    f"rule {site.rule!r} returned {len(rel_in)} relevances for "
                    f"'{site.path}', which has {len(inputs)} inputs"
                )
            for key, r, wanted in zip(step.inputs, rel_in, site.wanted):
                if wanted:
                    relevance[key] = r if key not in relevance else relevance[key] + r
        for stop in self.stops:
            if stop not in relevance:
                relevance[stop] = ops.zeros_like(as_float32(env[stop]))
        return relevance

    def relevance(self, env: dict, seeds: dict):
        """The relevance at the stop key."""
        return self.backward(env, seeds)[self.stop]
