"""Benchmark: one training step of the connectome GAT-LSTM at its designed size, the edge-attention layer's shared
aggregation (bio_gnn.attention.attention_aggregate) against PyG's propagate/message path, side by side.

Both variants are the same model with the same weights (`with_message_aggregation` turns the GAT layers of a deep
copy into `MessageEdgeGATConv`, which materialises the [E, B*W, heads, C] messages and keeps them for the
backward) and run on the same windows of simulated worms (causally normalised, 50 steps) in one process,
alternating, after a warm-up. Per batch of B windows it times, as the median of --repeats:

* graph part: forward + backward of the three GAT layers over the B*W time-step graphs (`model.encode`);
* LSTM part: forward + backward of the per-neuron LSTM and head on those embeddings, over the recorded neurons'
  sequences as in a training step (which the aggregation does not change; until 2026-12-07 this part ran over
  every neuron's sequence, recorded or not, and overstated the LSTM's share: 302 sequences per window, not ~174);
* the whole step with the per-step loss (`SequenceTask`) for both, and for the new layer also with the last-step
  loss of chapter 12 (`WindowTask`): from them the supervised (step, neuron) targets per second of training
  (the LSTM part is the same code in both and is timed once);

and the peak memory of a whole step above the memory held before it: on CUDA `torch.cuda.max_memory_allocated`,
on the CPU the resident set size sampled every millisecond by a thread (large tensors are mmapped and returned on
free, so the RSS follows the step's allocations).

    python bench/connectome_step.py                        # design size, batches of 1, 2 and 4 windows, 2 threads
    python bench/connectome_step.py --batches 1 --repeats 2 --small   # a smoke run at tiny widths

The allocator changes the reference's time 2.7-3.3x (glibc hands its large message tensors back to the kernel after
each use; jemalloc with dirty_decay_ms:-1 keeps them), so compare both (results/connectome_step_bench_glibc.json and
_jemalloc.json) and read the allocator and threads from the result's provenance['env']:

    export LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
    export MALLOC_CONF=oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1
    python bench/connectome_step.py --batches 1,4 --repeats 2 --name connectome_step_bench_jemalloc

Memory: the reference's step at 4 windows holds about 5.5 GB, and under jemalloc the parent keeps what it freed;
paused (SIGSTOP) jobs keep their memory too. Writes runs/<timestamp>-<name>/results/<name>.json
(bio_gnn.core.start_run + write_results) and prints a table with the ratios old / new (time) and new / old (peak
memory).
"""
from __future__ import annotations
import argparse, json, os, statistics, subprocess, sys, threading, time
from pathlib import Path
from _worms import bench_worms   # bench/_worms.py: this script's folder is on sys.path


def _rss_mb() -> float:
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


class PeakMemory:
    "Peak memory (MiB) of a block above the memory in use when it starts: CUDA allocator or sampled RSS."
    def __init__(self, device):
        self.device = device

    def __enter__(self):
        import torch
        if self.device.type == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated() / 2**20
            return self
        self.base = self.peak = _rss_mb()
        self._stop = threading.Event()
        def sample():
            while not self._stop.is_set():
                self.peak = max(self.peak, _rss_mb())
                time.sleep(0.001)
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        import torch
        if self.device.type == 'cuda':
            torch.cuda.synchronize()
            self.mb = torch.cuda.max_memory_allocated() / 2**20 - self.base
        else:
            self._stop.set()
            self._thread.join()
            self.mb = max(self.peak, _rss_mb()) - self.base


def _sync(device):
    import torch
    if device.type == 'cuda': torch.cuda.synchronize()


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--batches', default='1,2,4', help='windows per batch, comma-separated')
    p.add_argument('--window', type=int, default=50, help='steps per window')
    p.add_argument('--repeats', type=int, default=3, help='timed repeats per measurement (median)')
    p.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    p.add_argument('--device', default='cpu', help="'cpu' or 'cuda'")
    p.add_argument('--small', action='store_true', help='tiny widths (a smoke run), not the designed size')
    p.add_argument('--name', default='connectome_step_bench', help='results name (and run folder suffix)')
    p.add_argument('--child', choices=['graph', 'step'], help=argparse.SUPPRESS)
    p.add_argument('--child-model', help=argparse.SUPPRESS)
    p.add_argument('--child-batch', type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    from bio_gnn.core import start_run, write_results, count_parameters, run_recurrent
    command = 'python bench/connectome_step.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    if not args.child: start_run(args.name, command, vars(args))
    import numpy as np
    import torch
    from bio_gnn.models.connectome import WindowTask, build_connectome_model
    from bio_gnn.models.connectome_training import SequenceTask, with_message_aggregation
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    batches = [int(b) for b in args.batches.split(',')]
    cfg, graph, wins = bench_worms(args.window, args.window, args.small)
    new = build_connectome_model('gat_lstm', graph, cfg, seed=0).to(device).train()
    old = with_message_aggregation(new).to(device).train()
    models = {'old (propagate/message)': old, 'new (attention_aggregate)': new}
    n_params = count_parameters(new)
    E, N = graph.edge_index.shape[1], graph.num_nodes
    if not args.child:
        print(f"GAT-LSTM {n_params:,} parameters ({'tiny' if args.small else 'designed'} size), {E} edges, "
              f"{N} neurons, {args.threads} thread(s), device {device}")

    def batch_of(B):
        items = [wins[i] for i in range(1, B + 1)]   # past the first window (its warm-up targets are unscored)
        return {k: torch.stack([it[k] for it in items]).to(device) for k in items[0]}

    def graph_part(m, b):
        torch.manual_seed(0)
        h = m.encode(b['x'], b['mask'].bool())
        h.pow(2).mean().backward()

    def lstm_rows(b):
        "The (window, neuron) sequences a training step runs the LSTM on: SequenceTask's rows, the recorded neurons."
        return (b['mask'].bool().any(1) | b['y_seq_mask'].bool().any(1)).reshape(-1).nonzero().view(-1)

    def lstm_part(m, b, h):
        "The LSTM and head, forward and backward, over the sequences of `lstm_rows`."
        B, W, N_ = b['x'].shape
        rows = lstm_rows(b)
        hh = h.permute(1, 0, 2, 3).reshape(B * N_, W, -1)[rows].detach().requires_grad_(True)
        z = m.head(run_recurrent(m.lstm, hh)[0])
        z.pow(2).mean().backward()

    def step(m, b, task):
        torch.manual_seed(0)
        out = task.forward(m, b)
        task.loss(out, b, 'train').backward()

    def timed(fns):
        "Median seconds of each of `fns` ({key: fn}), the repeats interleaved (machine load hits all alike)."
        ts = {k: [] for k in fns}
        for _ in range(args.repeats):
            for k, fn in fns.items():
                _sync(device)
                t0 = time.perf_counter()
                fn()
                _sync(device)
                ts[k].append(time.perf_counter() - t0)
                for m in models.values(): m.zero_grad(set_to_none=True)
        return {k: statistics.median(v) for k, v in ts.items()}

    tasks = {'last-step': WindowTask(), 'per-step': SequenceTask()}
    if args.child:   # a fresh process: the peak memory of one pass of one variant above the memory after setup
        m, b = models[args.child_model], batch_of(args.child_batch)
        with PeakMemory(device) as pm:
            if args.child == 'graph': graph_part(m, b)
            else: step(m, b, tasks['per-step'])
        print(json.dumps({'peak_mb': pm.mb}))
        return {}
    rows = []
    for B in batches:
        b = batch_of(B)
        with torch.no_grad(): h = new.encode(b['x'], b['mask'].bool())
        targets = {'last-step': int(b['y_mask'].sum()), 'per-step': int(b['y_seq_mask'].sum())}
        n_seq = len(lstm_rows(b))   # the LSTM's sequences
        if B == batches[0]:
            for m in models.values(): step(m, b, tasks['per-step'])   # warm-up: thread pools, first-call dispatch
        fns = {('lstm', None): lambda: lstm_part(new, b, h)}          # the same code in both: timed once
        for name, m in models.items():
            fns[('graph', name)] = lambda m=m: graph_part(m, b)
            fns[('step_per-step', name)] = lambda m=m: step(m, b, tasks['per-step'])
        fns[('step_last-step', 'new (attention_aggregate)')] = lambda: step(new, b, tasks['last-step'])
        t = timed(fns)
        for name in models:
            r = {'batch': B, 'model': name, 'steps': args.window, 'graph_s': t[('graph', name)],
                 'lstm_s': t[('lstm', None)], 'lstm_sequences': n_seq}
            for tn in tasks:
                if ('step_' + tn, name) not in t: continue     # the loss choice is measured on the new layer only
                r[f'step_{tn}_s'] = t[('step_' + tn, name)]
                r[f'targets_{tn}'] = targets[tn]
                r[f'targets_per_s_{tn}'] = targets[tn] / r[f'step_{tn}_s']
            for part in ('graph', 'step'):   # peak memory: each pass in a fresh process
                cmd = [sys.executable, __file__, '--child', part, '--child-model', name, '--child-batch', str(B),
                       '--window', str(args.window), '--threads', str(args.threads), '--device', args.device]
                out = subprocess.run(cmd + (['--small'] if args.small else []), capture_output=True, text=True)
                if out.returncode: raise RuntimeError(f"memory child failed: {out.stderr[-2000:]}")
                r[f'{part}_peak_mb'] = json.loads(out.stdout.strip().splitlines()[-1])['peak_mb']
            for k in ('graph', 'lstm', 'step_last-step', 'step_per-step'):
                if f'{k}_s' in r: r[f'{k}_per_window_s'] = r[f'{k}_s'] / B
            rows.append(r)
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}), flush=True)
    ratios = []
    for B in batches:
        o, n = (next(r for r in rows if r['batch'] == B and r['model'] == k) for k in models)
        ratios.append({'batch': B, 'graph_speedup': o['graph_s'] / n['graph_s'],
                       'step_speedup_per_step_loss': o['step_per-step_s'] / n['step_per-step_s'],
                       'graph_peak_ratio_new_over_old': n['graph_peak_mb'] / max(o['graph_peak_mb'], 1e-9),
                       'step_peak_ratio_new_over_old': n['step_peak_mb'] / max(o['step_peak_mb'], 1e-9),
                       'lstm_per_window_s': n['lstm_per_window_s'],
                       'targets_per_s_gain_per_step_over_last_step': n['targets_per_s_per-step']
                       / n['targets_per_s_last-step']})
    print('\n batch | graph fwd+bwd per window old / new (s) | speed-up | graph peak old / new (MiB) | '
          'LSTM per window (s) | targets/s last-step / per-step')
    for B, q in zip(batches, ratios):
        o, n = (next(r for r in rows if r['batch'] == B and r['model'] == k) for k in models)
        print(f" {B:5d} | {o['graph_per_window_s']:.3f} / {n['graph_per_window_s']:.3f} | {q['graph_speedup']:.2f}x | "
              f"{o['graph_peak_mb']:.0f} / {n['graph_peak_mb']:.0f} | {n['lstm_per_window_s']:.3f} | "
              f"{n['targets_per_s_last-step']:.0f} / {n['targets_per_s_per-step']:.0f}")
    result = {'rows': rows, 'ratios': ratios, 'n_params': n_params, 'n_edges': E, 'n_neurons': N,
              'designed_size': not args.small, 'threads': args.threads}
    path = write_results(args.name, result, params=vars(args), device=str(device))
    print(f"wrote {path}")
    return result


if __name__ == '__main__':
    main()
