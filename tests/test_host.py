import numpy as np
import pytest

from waferrepro.host import (
    cannon_preskew,
    from_tiles,
    logical_index,
    place,
    ring_order,
    to_tiles,
    unplace,
)


@pytest.mark.parametrize("p", [1, 2, 3, 4, 7, 8, 750])
def test_interleaved_ring_hops_at_most_two(p):
    order = ring_order(p, interleaved=True)
    assert sorted(order) == list(range(p))
    hops = np.abs(np.diff(np.append(order, order[0])))
    assert hops.max() <= 2


def test_plain_ring_closing_hop_spans_line():
    order = ring_order(9, interleaved=False)
    assert abs(order[-1] - order[0]) == 8
    assert (logical_index(order) == np.arange(9)).all()


def test_tiles_round_trip_with_padding():
    a = np.arange(7 * 5, dtype=np.float32).reshape(7, 5)
    tiles = to_tiles(a, 3, 2)
    assert tiles.shape == (3, 2, 3, 3)
    assert (from_tiles(tiles, 7, 5) == a).all()
    order = ring_order(3, True)
    t = to_tiles(a, 3, 3)
    assert (unplace(place(t, order, order), order, order) == t).all()


def test_preskew_aligns_k_index():
    p = 4
    a = np.arange(p * p).reshape(p, p, 1, 1)  # tile (i, k) carries id i*p+k
    b = np.arange(p * p).reshape(p, p, 1, 1)
    sa, sb = cannon_preskew(a, b)
    for i in range(p):
        for j in range(p):
            k = (i + j) % p
            assert sa[i, j, 0, 0] == i * p + k and sb[i, j, 0, 0] == k * p + j
