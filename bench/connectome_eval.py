"""Benchmark: the connectome tests of chapter 12c at the designed model size, the reference (a full forward pass per
rollout step and per held-out (neuron, window) copy) against chapter 12aa's incremental paths, side by side.

Both paths run on the same model (the designed ConnectomeGATLSTM of chapter 12, ConnectomeConfig's defaults, its
zero-initialised last head layer drawn at random so that it is not persistence; timing does not depend on the
weights) and on the same windows of simulated worms (causally normalised, 50 steps), in one process, the repeats
interleaved, after a warm-up. Per model (by default the GAT-LSTM and the graph-free LSTM) it times:

* `rollout` over --starts starts to --horizons (fast=False: H full passes over the sliding window; fast=True:
  the graph layers encode only the new step, the LSTM re-reads the window for the recorded neurons only);
* `held_out_neuron` over --windows windows and --neurons hidden neurons (graph models only; fast=False: a full
  pass per (neuron, window) copy; fast=True: the copies of a neuron together, the GAT on its receptive field,
  one LSTM row per copy);

and checks that the two give the same table (the largest absolute difference is reported). With --fast-starts K
it also times the fast rollout alone at K starts (the reference at that size takes minutes per model).

    python bench/connectome_eval.py                                     # design size, 4 starts, horizons 1,5,10,20
    python bench/connectome_eval.py --starts 2 --horizons 1,5 --small   # a smoke run at tiny widths

Writes runs/<timestamp>-<name>/results/<name>.json (bio_gnn.core.start_run + write_results) and prints a table
with the ratios reference / fast.
"""
from __future__ import annotations
import argparse, json, statistics, sys, time
from _worms import bench_worms   # bench/_worms.py: this script's folder is on sys.path


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--models', default='gat_lstm,lstm', help='chapter 12 variants (MODEL_VARIANTS), comma-separated')
    p.add_argument('--starts', type=int, default=4, help='rollout starts (windows) timed both ways')
    p.add_argument('--horizons', default='1,5,10,20', help='rollout horizons, comma-separated')
    p.add_argument('--windows', type=int, default=4, help='windows of the held-out-neuron test')
    p.add_argument('--neurons', type=int, default=2, help='hidden neurons (each with >= 2 targets)')
    p.add_argument('--fast-starts', type=int, default=0, help='also time the fast rollout alone at this many starts')
    p.add_argument('--window', type=int, default=50, help='steps per window')
    p.add_argument('--repeats', type=int, default=1, help='timed repeats per measurement (median)')
    p.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--small', action='store_true', help='tiny widths (a smoke run), not the designed size')
    p.add_argument('--name', default='connectome_eval_bench', help='results name (and run folder suffix)')
    args = p.parse_args(argv)
    from bio_gnn.core import start_run, write_results, count_parameters
    command = 'python bench/connectome_eval.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    start_run(args.name, command, vars(args))
    import numpy as np
    import pandas as pd
    import torch
    from torch import nn
    from bio_gnn.models.connectome import build_connectome_model
    from bio_gnn.models.connectome_tests import held_out_neuron, rollout
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    horizons = [int(h) for h in args.horizons.split(',')]
    cfg, graph, wins = bench_worms(args.window, 10, args.small)
    E, N = graph.edge_index.shape[1], graph.num_nodes
    print(f"{'tiny' if args.small else 'designed'} size, {E} edges, {N} neurons, {args.threads} thread(s), "
          f"device {device}; {len(wins)} windows of {args.window} steps")

    def model_of(name):
        m = build_connectome_model(name, graph, cfg, seed=0)
        nn.init.normal_(m.head[-1].weight, std=0.05)        # not persistence (the zero init makes it persistence)
        nn.init.normal_(m.head[-1].bias, std=0.05)
        return m.to(device).eval()

    def timed(fns):
        "Median seconds and last result of each of `fns` ({key: fn}), the repeats interleaved."
        ts, res = {k: [] for k in fns}, {}
        for _ in range(args.repeats):
            for k, fn in fns.items():
                if device.type == 'cuda': torch.cuda.synchronize()
                t0 = time.perf_counter()
                res[k] = fn()
                if device.type == 'cuda': torch.cuda.synchronize()
                ts[k].append(time.perf_counter() - t0)
        return {k: statistics.median(v) for k, v in ts.items()}, res

    def max_diff(a, b, cols):
        "Largest |fast - reference| over the finite entries (None when there is none, e.g. R² of one target)."
        d = np.abs(a[cols].to_numpy(float) - b[cols].to_numpy(float))
        return float(d[np.isfinite(d)].max()) if np.isfinite(d).any() else None

    rows = []
    for name in args.models.split(','):
        m = model_of(name)
        n_params = count_parameters(m)
        rollout(m, wins, horizons[:1], max_starts=1)                 # warm-up: thread pools, first-call dispatch
        ro = lambda fast, k=args.starts: rollout(m, wins, horizons, max_starts=k, fast=fast)
        t, r = timed({'reference': lambda: ro(False), 'fast': lambda: ro(True)})
        row = {'model': name, 'n_params': n_params, 'test': 'rollout', 'starts': int(r['fast']['n_starts'].iloc[0]),
               'horizons': horizons, 'reference_s': t['reference'], 'fast_s': t['fast'],
               'speedup': t['reference'] / t['fast'],
               'max_abs_diff': max_diff(r['fast'], r['reference'], ['r2', 'mse', 'skill_vs_persistence'])}
        row['reference_per_start_s'] = t['reference'] / row['starts']
        row['fast_per_start_s'] = t['fast'] / row['starts']
        if args.fast_starts:
            t0 = time.perf_counter()
            big = ro(True, args.fast_starts)
            row['fast_big_starts'], row['fast_big_s'] = int(big['n_starts'].iloc[0]), time.perf_counter() - t0
        rows.append(row)
        print(json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
        if name == 'lstm': continue                                   # graph-free: held-out neuron not applicable
        ho = lambda fast: held_out_neuron(m, wins, max_windows=args.windows, max_neurons=args.neurons, min_targets=2,
                                          fast=fast)
        t, r = timed({'reference': lambda: ho(False), 'fast': lambda: ho(True)})
        n_nr = int(r['fast']['pooled']['n_neurons'].iloc[0])
        row = {'model': name, 'n_params': n_params, 'test': 'held_out_neuron', 'windows': args.windows,
               'neurons': n_nr, 'copies': int(r['fast']['pooled']['n_targets'].iloc[0]),
               'reference_s': t['reference'], 'fast_s': t['fast'], 'speedup': t['reference'] / t['fast'],
               'reference_per_neuron_s': t['reference'] / n_nr, 'fast_per_neuron_s': t['fast'] / n_nr,
               'max_abs_diff': max_diff(pd.concat([r['fast']['per_neuron'], r['fast']['pooled']]),
                                        pd.concat([r['reference']['per_neuron'], r['reference']['pooled']]), ['r2'])}
        rows.append(row)
        print(json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()}), flush=True)
    print('\n model | test | size | reference (s) | fast (s) | speed-up | max |diff|')
    for r_ in rows:
        size = f"{r_['starts']} starts x {max(horizons)} steps" if r_['test'] == 'rollout' else \
            f"{r_['neurons']} neurons x {r_['windows']} windows"
        print(f" {r_['model']} | {r_['test']} | {size} | {r_['reference_s']:.2f} | {r_['fast_s']:.2f} | "
              f"{r_['speedup']:.2f}x | {'-' if r_['max_abs_diff'] is None else format(r_['max_abs_diff'], '.2e')}")
    result = {'rows': rows, 'n_edges': E, 'n_neurons': N, 'designed_size': not args.small, 'threads': args.threads}
    path = write_results(args.name, result, params=vars(args), device=str(device))
    print(f"wrote {path}")
    return result


if __name__ == '__main__':
    main()
