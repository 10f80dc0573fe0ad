"""Batching of (image, channel) pairs for the perturbation methods."""

import numpy as np

from tests.core import nets
from tfcam.graph import trace
from tfcam.pairs import auto_chunk_size, pair_chunks, scatter, select_channels


def test_select_channels_skips_constant_and_keeps_top_means():
    spans = np.array([[0.0, 1.0, 2.0, 3.0]])
    means = np.array([[9.0, 1.0, 3.0, 2.0]])
    assert select_channels(spans, means, None).tolist() == [[False, True, True, True]]
    assert select_channels(spans, means, 2).tolist() == [[False, False, True, True]]


def test_pair_chunks_cover_every_pair_once_and_pad():
    keep = np.array([[True, False, True], [True, True, True]])
    chunks = list(pair_chunks(keep, np.array([7, 8]), chunk_size=4))
    assert [len(c[0]) for c in chunks] == [4, 4] and [c[3] for c in chunks] == [4, 1]
    pairs = [(i, k) for img, ch, _, n in chunks for i, k in zip(img[:n], ch[:n])]
    assert pairs == [(0, 0), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert chunks[0][2].tolist() == [7, 7, 8, 8]
    values = [np.arange(4, dtype="float32"), np.array([4.0], "float32")]
    assert scatter(keep, values).tolist() == [[0, 0, 1], [2, 3, 4]]


def test_few_pairs_use_a_small_power_of_two_chunk():
    keep = np.ones((1, 3), bool)
    (chunk,) = pair_chunks(keep, np.zeros(1, "int32"), chunk_size=64)
    assert len(chunk[0]) == 4 and chunk[3] == 3


def test_auto_chunk_size_follows_the_budget():
    program = trace(nets.gap_dense(size=8, channels=4))
    per_input = 4 * (8 * 8 * 3 + 3 * 8 * 8 * 4)
    assert auto_chunk_size(program, (1, 8, 8, 3), budget_bytes=per_input * 10) == 8
    assert auto_chunk_size(program, (1, 8, 8, 3), budget_bytes=1) == 1
    assert auto_chunk_size(program, (1, 8, 8, 3), budget_bytes=1 << 40) == 256
