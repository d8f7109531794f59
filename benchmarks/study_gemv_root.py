"""Study (not a benchmark of speed): where MeshGEMV's column root sits, and Figure 10's gap.

meshsim's MeshGEMV and chain-GEMV both reduce each column into row 0 and broadcast from
there, so about half of MeshGEMV's time at 720x720 is the ~720-hop broadcast. This prints,
per GEMV size, the simulated cycles with the root at the edge (what meshsim and the CSL do)
and an ESTIMATE with the root in the middle of the column: two half-columns reduce at once,
one extra hop combines them, and the broadcast runs both ways over half a column. The
estimate uses meshsim's own cost functions on a half-length line; it is not a simulated
kernel. Run: .venv/bin/python benchmarks/study_gemv_root.py [grid]
"""

import sys

from waferrepro.hardware import WSE2
from waferrepro.meshsim import simulate
from waferrepro.meshsim.comm import broadcast, tree_reduce
from waferrepro.meshsim.fabric import Fabric


def middle_root_estimate(system: str, levels: int, n: int, p: int) -> float:
    run = simulate(system, (1, n, n), p, p, WSE2, functional=False).run
    nt = -(-n // p)
    half = Fabric(WSE2, 1, (p + 1) // 2, functional=False)
    _, reduce_cycles, _ = tree_reduce(half, None, "y", nt, levels)
    _, bcast_cycles = broadcast(half, None, "y", 0, nt)
    combine = nt + WSE2.hop_latency_cycles + 2 * WSE2.ramp_latency_cycles
    return run.fabric.timeline.compute + reduce_cycles + combine + bcast_cycles


def main(p: int = 720) -> None:
    print(f"grid {p}x{p}, WSE-2 cost model; cycles (simulated edge root | estimated middle root)")
    for n in (2048, 8192, 16384):
        edge = {s: simulate(s, (1, n, n), p, p, WSE2, functional=False).run.cycles
                for s in ("MeshGEMV", "chain-GEMV")}
        mid = {"MeshGEMV": middle_root_estimate("MeshGEMV", 2, n, p),
               "chain-GEMV": middle_root_estimate("chain-GEMV", 1, n, p)}
        print(f"{n:6d}: MeshGEMV {edge['MeshGEMV']:.0f} | {mid['MeshGEMV']:.0f}; "
              f"chain {edge['chain-GEMV']:.0f} | {mid['chain-GEMV']:.0f}; speedup "
              f"edge/edge {edge['chain-GEMV'] / edge['MeshGEMV']:.2f}, "
              f"mid/mid {mid['chain-GEMV'] / mid['MeshGEMV']:.2f}, "
              f"MeshGEMV mid vs chain edge {edge['chain-GEMV'] / mid['MeshGEMV']:.2f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 720)
