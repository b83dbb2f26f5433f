"""The connectome benchmarks' shared setup: the model configuration, the real hermaphrodite wiring and
causally normalised windows of two simulated worms (`connectome_step.py`, `connectome_eval.py`)."""
from __future__ import annotations


def bench_worms(window: int, # steps per window
                stride: int, # steps between window starts
                small: bool = False, # tiny widths (a smoke run) instead of the designed ones
               ) -> tuple:
    "(ConnectomeConfig, graph, windows): the designed sizes (or tiny ones), Cook 2019, 2 worms of 120-130 s at 2 Hz."
    from bio_gnn.worm import load_connectome, connectome_graph
    from bio_gnn.worm_sim import simulate_activity
    from bio_gnn.models.connectome import ConnectomeConfig
    from bio_gnn.models.connectome_training import make_causal_windows
    sizes = dict(hidden_dims=(4, 4, 8), heads=(2, 2, 2), lstm_hidden=16, head_hidden=16) if small else {}
    cfg = ConnectomeConfig(window=window, **sizes)
    graph = connectome_graph(load_connectome('cook2019_herm'))
    sim = simulate_activity(graph, n_worms=2, duration_s=(120.0, 130.0), rate_hz=2.0, seed=0)
    return cfg, graph, make_causal_windows(sim, window=window, stride=stride, warmup_s=10.0)
