"""Benchmark: one full-batch training epoch of the cell-type paper configuration, SparseGATConv against PyG GATConv.

The thesis's model (`build_celltype_model('paper', 28991, 11)`: 28,991 genes -> 2048 -> GAT 1024/512/256 with 8
heads averaged -> 128 -> 11; 84.2 M parameters) on synthetic sparse counts (5 % non-zero, log1p of Poisson counts,
a torch CSR matrix that is never densified) at N cells with a 12-NN graph (plus the self-loops GATConv adds). One
epoch = forward, cross-entropy over all cells, backward, gradient clipping at 1.0 and an AdamW step. The layer is
`conv='gat'` (bio_gnn.attention.SparseGATConv: no per-edge messages) or `conv='gat_pyg'` (PyG's GATConv, which
stores [E, heads, channels] messages), in fp32 or under bf16 autocast (the sparse input projection stays fp32: CPU
sparse kernels have no bf16).

Every (size, layer, precision) runs in its own fresh Python process, side by side in one invocation, with a
wall-clock timeout; its peak memory is the child's ru_maxrss (the data and the model included). Each child runs
--epochs epochs (default 2: the first includes the allocator's warm-up) and reports the last. PyG runs only where
its peak memory, projected linearly in N from the smaller sizes, fits in --max-gib; so does the new layer.

    python bench/celltype_epoch.py                                  # 2k and 10k cells, both layers, fp32 and bf16
    python bench/celltype_epoch.py --sizes 50000 --layers gat --precisions fp32 --epochs 1 --timeout 1200

Writes runs/<timestamp>-<name>/results/<name>.json (bio_gnn.core.start_run + write_results) and prints a table:
per size, layer and precision, seconds per epoch (wall, and the CPU seconds of all threads: on a machine shared with
other jobs the wall time overstates, and CPU seconds / threads is the time an idle machine would take), peak RSS
(GiB), and the ratios PyG / SparseGATConv.
The issue's goal: <= 127 s per epoch and <= 16 GiB peak at 50,000 cells on 2 cores.
"""
from __future__ import annotations
import argparse, json, os, resource, sys, time
from pathlib import Path
from _child import run_child   # bench/_child.py: this script's folder is on sys.path

LAYERS = {'gat': 'SparseGATConv', 'gat_pyg': 'PyG GATConv'}
GOAL_SECONDS, GOAL_GIB, GOAL_CELLS = 127.0, 16.0, 50_000


def _rss_gib() -> float:
    "Peak resident memory of this process, GiB."
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _reset_peak() -> bool:
    "Reset the kernel's peak-RSS counter (VmHWM) of this process (Linux); whether it worked."
    try:
        Path('/proc/self/clear_refs').write_text('5')
        return True
    except OSError:
        return False


def _hwm_gib() -> float|None:
    "Peak resident memory since the last reset (VmHWM), GiB; None where /proc is missing."
    try:
        line = [ln for ln in Path('/proc/self/status').read_text().splitlines() if ln.startswith('VmHWM:')][0]
        return int(line.split()[1]) / 2**20
    except (OSError, IndexError):
        return None


# ----------------------------------------------------------------------------- child side
def _data(n: int, genes: int, k: int, density: float, seed: int):
    "Synthetic sparse counts (torch CSR), labels and a k-NN graph (edges j -> i from each cell's k nearest)."
    import numpy as np, scipy.sparse as sp, torch
    from bio_gnn.knn import knn_graph
    rng = np.random.default_rng(seed)
    blocks = []
    for i0 in range(0, n, 1000):      # 1,000 cells at a time, so that making the data never holds a dense matrix
        blocks.append(sp.csr_matrix(rng.random((min(1000, n - i0), genes), dtype=np.float32) < density, dtype=np.float32))
    X = sp.vstack(blocks, format='csr')
    X.data = np.log1p(rng.poisson(2.0, X.nnz).astype(np.float32) + 1)
    xs = torch.sparse_csr_tensor(torch.from_numpy(X.indptr.astype(np.int64)), torch.from_numpy(X.indices.astype(np.int64)),
                                 torch.from_numpy(X.data), X.shape)
    y = torch.as_tensor(rng.integers(0, 11, n))
    _, idx = knn_graph(rng.normal(size=(n, 30)).astype(np.float32), k)
    ei = torch.stack([torch.as_tensor(idx).reshape(-1), torch.arange(n).repeat_interleave(idx.shape[1])])
    return xs, y, ei


def _child(args) -> dict:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    from bio_gnn.models.celltype import build_celltype_model, PAPER_N_CLASSES
    xs, y, ei = _data(args.n, args.genes, args.k, args.density, args.seed)
    torch.manual_seed(args.seed)
    model = build_celltype_model(args.config, args.genes, PAPER_N_CLASSES, conv=args.layer).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    import gc
    gc.collect()
    rss_before, times, cpu_times, losses = _rss_gib(), [], [], []
    reset = _reset_peak()
    for _ in range(args.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=args.precision == 'bf16'):
            logits = model(xs, ei)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - t0)
        cpu_times.append(time.process_time() - c0)
        losses.append(float(loss))
    return {'seconds': times[-1], 'times': [round(t, 3) for t in times], 'losses': losses,
            'cpu_seconds': round(cpu_times[-1], 3), 'cpu_times': [round(t, 3) for t in cpu_times],
            'peak_rss_gib': round(_rss_gib(), 3), 'rss_before_gib': round(rss_before, 3), 'edges': int(ei.shape[1]),
            'training_peak_gib': round(_hwm_gib(), 3) if reset and _hwm_gib() is not None else None,
            'nnz': int(xs.values().numel()), 'parameters': sum(p.numel() for p in model.parameters())}


# ----------------------------------------------------------------------------- parent side
def _projected_gib(runs: list, layer: str, precision: str, n: int) -> float|None:
    """Peak RSS at n cells, linear in n through the two largest finished sizes of the same layer and precision (one
    size: through its RSS before training, the model and the optimiser, at n = 0)."""
    ok = sorted((r['n'], r['peak_rss_gib'], r['rss_before_gib']) for r in runs
                if r['layer'] == layer and r['precision'] == precision and r['status'] == 'ok')
    if not ok: return None
    if len(ok) == 1: return ok[0][2] + (ok[0][1] - ok[0][2]) * n / ok[0][0]
    ok = [(a, b) for a, b, _ in ok]
    (n0, m0), (n1, m1) = ok[-2], ok[-1]
    return m1 + (m1 - m0) / (n1 - n0) * (n - n1)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sizes', default='2000,10000', help='comma-separated numbers of cells')
    p.add_argument('--layers', default='gat,gat_pyg', help=f'comma-separated, from {list(LAYERS)}')
    p.add_argument('--precisions', default='fp32,bf16', help="comma-separated: 'fp32', 'bf16' (CPU autocast)")
    p.add_argument('--config', default='paper', help="build_celltype_model's configuration ('paper' or 'quick')")
    p.add_argument('--genes', type=int, default=28_991)
    p.add_argument('--density', type=float, default=0.05, help='fraction of non-zero counts')
    p.add_argument('--k', type=int, default=12, help='neighbours of the k-NN graph (the thesis: 12)')
    p.add_argument('--epochs', type=int, default=2, help='epochs per child; the last is reported')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--timeout', type=float, default=900, help='seconds per child process')
    p.add_argument('--max-gib', type=float, default=18.0, help='skip runs whose projected peak RSS exceeds this')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--name', default='celltype_epoch_bench', help='results file stem')
    p.add_argument('--no-write', action='store_true', help='do not write results/')
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--n', type=int, help=argparse.SUPPRESS)
    p.add_argument('--layer', help=argparse.SUPPRESS)
    p.add_argument('--precision', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.child:
        print(json.dumps(_child(args)), flush=True)
        return {}
    layers, precisions = args.layers.split(','), args.precisions.split(',')
    bad = sorted(set(layers) - set(LAYERS)) + sorted(set(precisions) - {'fp32', 'bf16'})
    if bad: p.error(f'unknown layers/precisions {bad}; known: {list(LAYERS)}, fp32, bf16')
    if not args.no_write:
        from bio_gnn.core import start_run
        start_run(args.name, 'python bench/celltype_epoch.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
                  vars(args))
    print(f"{args.config} configuration, {args.genes} genes, k={args.k}, {args.threads} threads, "
          f"{args.epochs} epochs per process (last reported)", flush=True)
    env = dict(os.environ, **{v: str(args.threads) for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS',
                                                              'NUMBA_NUM_THREADS')}, PYTHONWARNINGS='ignore')
    runs, t_start = [], time.perf_counter()
    for n in [int(s) for s in args.sizes.split(',')]:
        for precision in precisions:
            for layer in layers:
                rec = {'n': n, 'layer': layer, 'precision': precision}
                proj = _projected_gib(runs, layer, precision, n)
                if proj is not None and proj > args.max_gib:
                    rec.update(status='skipped', projected_peak_gib=round(proj, 1),
                               note=f'projected peak {proj:.1f} GiB > --max-gib {args.max_gib}')
                    runs.append(rec)
                    print(f"  n={n:>7d} {precision} {LAYERS[layer]:>14s}: skipped, {rec['note']}", flush=True)
                    continue
                cmd = [sys.executable, __file__, '--child', '--n', str(n), '--layer', layer, '--precision', precision]
                cmd += [f'--{a}={getattr(args, a)}' for a in ('config', 'genes', 'density', 'k', 'epochs', 'threads', 'seed')]
                ok = run_child(cmd, rec, args.timeout, env)
                runs.append(rec)
                if not ok:
                    print(f"  n={n:>7d} {precision} {LAYERS[layer]:>14s}: {rec['status'].upper()} {rec['note']}", flush=True)
                    continue
                print(f"  n={n:>7d} {precision} {LAYERS[layer]:>14s}: {rec['seconds']:8.2f} s/epoch "
                      f"({rec['cpu_seconds']:.1f} CPU s)  peak {rec['peak_rss_gib']:6.2f} GiB, in training "
                      f"{rec['training_peak_gib']} GiB (making the data and model: {rec['rss_before_gib']:.2f} GiB)",
                      flush=True)
    print('\nratios PyG GATConv / SparseGATConv (same size and precision; > 1: the new layer is better)')
    for r in runs:
        if r['layer'] != 'gat_pyg' or r['status'] != 'ok': continue
        new = [q for q in runs if q['layer'] == 'gat' and q['n'] == r['n'] and q['precision'] == r['precision']
               and q['status'] == 'ok']
        if new:
            r['time_ratio_vs_new'] = round(r['seconds'] / new[0]['seconds'], 2)
            key = 'training_peak_gib' if r.get('training_peak_gib') and new[0].get('training_peak_gib') else 'peak_rss_gib'
            r['memory_ratio_vs_new'] = round(r[key] / new[0][key], 2)
            print(f"  n={r['n']:>7d} {r['precision']}: time x{r['time_ratio_vs_new']}, peak memory x{r['memory_ratio_vs_new']}")
    for r in runs:
        if r['layer'] == 'gat' and r['status'] == 'ok' and r['n'] == GOAL_CELLS:
            r['meets_goal'] = r['seconds'] <= GOAL_SECONDS and r['peak_rss_gib'] <= GOAL_GIB
            print(f"  goal at {GOAL_CELLS} cells ({r['precision']}): {r['seconds']:.1f} s <= {GOAL_SECONDS} s and "
                  f"{r['peak_rss_gib']:.2f} GiB <= {GOAL_GIB} GiB: {r['meets_goal']}")
    out = {'runs': runs, 'goal': {'cells': GOAL_CELLS, 'seconds': GOAL_SECONDS, 'peak_gib': GOAL_GIB}}
    if not args.no_write:
        from bio_gnn.core import write_results
        path = write_results(args.name, out, params=vars(args), dataset='synthetic sparse counts',
                             seeds=[args.seed], wall_time_s=round(time.perf_counter() - t_start, 1), device='cpu')
        print(f'wrote {path}')
    return out


if __name__ == '__main__':
    main()
