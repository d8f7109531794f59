"""Host-side data layout shared by every backend: padding, tiling, ring placement, pre-skew.

What the simulator's tests verify here is what the SDK launchers send to the device, so this
module knows nothing about how a kernel runs; it only maps matrices to per-core tiles and back.
Tile arrays have shape (rows, cols, tile_h, tile_w), indexed by physical core position.
"""

from __future__ import annotations

import math

import numpy as np


def ceil_to(n: int, multiple: int) -> int:
    return math.ceil(n / multiple) * multiple


def ring_order(p: int, interleaved: bool) -> np.ndarray:
    """Physical positions of a logical ring's members, in ring order.

    Plain: 0, 1, ..., p-1 (closing the ring needs a hop of p-1). Interleaved (MeshGEMM): the
    even positions going one way then the odd positions coming back, 0, 2, 4, ..., 5, 3, 1, so
    consecutive members are at most two hops apart, the closing hop included.
    """
    if not interleaved:
        return np.arange(p)
    return np.concatenate([np.arange(0, p, 2), np.arange(1, p, 2)[::-1]])


def group_size(p: int, k: int) -> int:
    """Smallest group size g with g**k >= p: the fan-in of each level of a k-level tree
    (meshsim's tree_reduce and the CSL column tree use the same groups)."""
    g = 1
    while g**k < p:
        g += 1
    return max(g, 2)


def logical_index(phys_of_logical: np.ndarray) -> np.ndarray:
    """Inverse of ring_order: the logical ring index of each physical position."""
    inv = np.empty_like(phys_of_logical)
    inv[phys_of_logical] = np.arange(len(phys_of_logical))
    return inv


def pad2d(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    if a.shape == (rows, cols):
        return a
    out = np.zeros((rows, cols), dtype=a.dtype)
    out[: a.shape[0], : a.shape[1]] = a
    return out


def to_tiles(a: np.ndarray, grid_rows: int, grid_cols: int) -> np.ndarray:
    """Split a matrix (padded with zeros to divide evenly) into a (gr, gc, th, tw) tile array."""
    th = math.ceil(a.shape[0] / grid_rows)
    tw = math.ceil(a.shape[1] / grid_cols)
    a = pad2d(a, th * grid_rows, tw * grid_cols)
    return a.reshape(grid_rows, th, grid_cols, tw).swapaxes(1, 2).copy()


def from_tiles(tiles: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Reassemble a (gr, gc, th, tw) tile array into a matrix and drop the padding."""
    gr, gc, th, tw = tiles.shape
    return tiles.swapaxes(1, 2).reshape(gr * th, gc * tw)[:rows, :cols]


def place(tiles: np.ndarray, row_order: np.ndarray, col_order: np.ndarray) -> np.ndarray:
    """Put logical tile (i, j) on physical core (row_order[i], col_order[j])."""
    out = np.empty_like(tiles)
    out[np.ix_(row_order, col_order)] = tiles
    return out


def unplace(tiles: np.ndarray, row_order: np.ndarray, col_order: np.ndarray) -> np.ndarray:
    """Inverse of place: the logical tile array from the physical one."""
    return tiles[np.ix_(row_order, col_order)]


def _grid(p: int):
    return np.meshgrid(np.arange(p), np.arange(p), indexing="ij")


def row_skewed(tiles: np.ndarray, offset: int = 0) -> np.ndarray:
    """Logical core (i, c) gets tile (i, i + c + offset) (mod p): Cannon's A alignment, and
    the layout the activation-stationary GEMM leaves its output in (offset 0)."""
    i, c = _grid(tiles.shape[0])
    return tiles[i, (i + c + offset) % tiles.shape[1]]


def column_skewed(tiles: np.ndarray, offset: int = 0) -> np.ndarray:
    """Logical core (r, c) gets tile (r + c + offset, c) (mod p): Cannon's B alignment."""
    r, c = _grid(tiles.shape[0])
    return tiles[(r + c + offset) % tiles.shape[0], c]


def stationary_placement(tiles: np.ndarray) -> np.ndarray:
    """Logical core (r, c) gets weight tile (c, r + c + 1) (mod p): what the
    activation-stationary GEMM (meshsim.gemm.stationary_loop) needs so that, with the weights
    moving up the columns and the partials left along the rows, core (i, c) ends with output
    tile (i, i + c)."""
    r, c = _grid(tiles.shape[0])
    return tiles[c, (r + c + 1) % tiles.shape[1]]


def cannon_preskew(a_tiles: np.ndarray, b_tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cannon's initial alignment in logical coordinates, done on the host.

    Core (i, j) starts with A(i, i+j) and B(i+j, j) (indices mod p), so that after s left
    shifts of A and s up shifts of B it holds A(i, i+j+s) and B(i+j+s, j).
    """
    p = a_tiles.shape[0]
    if a_tiles.shape[:2] != (p, p) or b_tiles.shape[:2] != (p, p):
        raise ValueError("Cannon needs a square core grid")
    return row_skewed(a_tiles), column_skewed(b_tiles)


def ceil_even(n: float) -> int:
    c = math.ceil(n)
    return c + (c % 2)


def kv_feature_order(kv_heads: int, head_dim: int) -> np.ndarray:
    """Order of K/V features on the wafer: each RoPE pair (e, e + hd/2) made adjacent.

    new position 2m, 2m+1 of head g hold old features g*hd + m and g*hd + m + hd/2, so a
    rotation never needs a value from another core (chunks have even length).
    """
    half = head_dim // 2
    per_head = np.stack([np.arange(half), np.arange(half) + half], axis=1).reshape(-1)
    return (np.arange(kv_heads)[:, None] * head_dim + per_head[None, :]).reshape(-1)


def q_feature_order(heads: int, kv_heads: int, head_dim: int) -> np.ndarray:
    """Order of Q features (and of the attention output): grouped under their KV feature.

    Position i*rep + r holds feature e of query head g*rep + r, where (g, e) is the KV feature
    at position i of kv_feature_order; so each core holds the queries matching its K/V slice.
    """
    rep = heads // kv_heads
    kv = kv_feature_order(kv_heads, head_dim)
    g, e = kv // head_dim, kv % head_dim
    return ((g[:, None] * rep + np.arange(rep)[None, :]) * head_dim + e[:, None]).reshape(-1)


def pack_cannon(a: np.ndarray, b: np.ndarray, p: int, interleaved: bool):
    """What a Cannon-family launcher sends: A and B tiled p x p, pre-skewed in logical ring
    coordinates and placed on the (interleaved or plain) rings. Returns (A tiles, B tiles),
    each (p, p, tile_h, tile_w) by physical core."""
    order = ring_order(p, interleaved)
    at, bt = cannon_preskew(to_tiles(a, p, p), to_tiles(b, p, p))
    return place(at, order, order), place(bt, order, order)


def unpack_cannon(c_tiles: np.ndarray, rows: int, cols: int, interleaved: bool) -> np.ndarray:
    """The result matrix from the C tiles read back from physical cores."""
    order = ring_order(c_tiles.shape[0], interleaved)
    return from_tiles(unplace(c_tiles, order, order), rows, cols)
