"""Benchmark: the quick cell-type GAT on up to 1,000,000 synthetic cells: one mini-batch epoch, every phase timed.

For each size, in its own fresh Python process (so that each size's peak memory is its own),
`bio_gnn.models.celltype_readouts.million_cell_epoch` generates `synthetic_cardiac` cells (--genes genes, drawn
block by block into a sparse matrix), preprocesses them without a dense cells x genes matrix (log-normalisation in
place, HVGs on training cells, scaling from sparse sums, exact PCA from a covariance accumulated over chunks), builds
the exact k-NN graph of the PCA (bio_gnn.knn), trains the `quick` GAT one neighbour-sampled epoch over the training
cells (70 %) and scores --eval-cells validation cells. Per phase (generate, preprocess, knn, train_epoch, evaluate):
wall seconds, CPU seconds (on a machine shared with other jobs the wall time overstates; CPU seconds / threads is
what an idle machine would take) and the peak resident memory of the process (the kernel's VmHWM, reset per phase).

A size runs only where its peak memory, projected linearly in the number of cells through the two largest finished
sizes, fits in --max-gib (the issue's goal: 1,000,000 cells within 24 GiB).

    python bench/celltype_million.py                                  # 20k and 50k cells (minutes)
    python bench/celltype_million.py --sizes 20000,50000,1000000 --timeout 10000   # the goal (the two small
                                                     # sizes project the peak memory that lets 1M run)

Writes runs/<timestamp>-<name>/results/<name>.json (bio_gnn.core.start_run + write_results; its runs can join the
scaling table of 10b_celltype_experiment through `scaling_minibatch_from`) and prints one line per size and phase.
"""
from __future__ import annotations
import argparse, json, os, sys, time
from pathlib import Path
from _child import run_child   # bench/_child.py: this script's folder is on sys.path

GOAL_CELLS, GOAL_GIB = 1_000_000, 24.0


def _child(args) -> dict:
    import torch
    torch.set_num_threads(args.threads)
    from bio_gnn.models.celltype_readouts import million_cell_epoch
    nn = [int(v) for v in args.num_neighbors.split(',')] if args.num_neighbors else None
    return million_cell_epoch(args.n, args.genes, args.hvg, args.config, k=args.k, batch_size=args.batch_size,
                              num_neighbors=nn, eval_cells=args.eval_cells, max_batches=args.max_batches,
                              seed=args.seed, device=args.device)


def _projected_gib(runs: list, n: int) -> float|None:
    "Peak RSS at n cells, linear in n through the two largest finished sizes (one size: proportional)."
    ok = sorted((r['n_cells'], r['peak_rss_gib']) for r in runs if r['status'] == 'ok')
    if not ok: return None
    if len(ok) == 1: return ok[0][1]*n/ok[0][0]
    (n0, m0), (n1, m1) = ok[-2], ok[-1]
    return m1 + (m1 - m0)/(n1 - n0)*(n - n1)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sizes', default='20000,50000', help='comma-separated numbers of cells, run in increasing order')
    p.add_argument('--genes', type=int, default=2000, help='genes generated (the scaling sweep: 2000)')
    p.add_argument('--hvg', type=int, default=2000, help='HVGs chosen on training cells (the model inputs)')
    p.add_argument('--config', default='quick', help="CELLTYPE_CONFIGS name of the GAT")
    p.add_argument('--k', type=int, default=None, help="neighbours of the k-NN graph (default: the config's)")
    p.add_argument('--batch-size', type=int, default=512, help='seed cells per mini-batch')
    p.add_argument('--num-neighbors', default='', help="fan-out per hop, e.g. '10,10' (default: 5 per GAT block)")
    p.add_argument('--eval-cells', type=int, default=10_000, help='validation cells scored after the epoch')
    p.add_argument('--max-batches', type=int, default=None, help='stop each epoch early (a quick look; extrapolated)')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu')
    p.add_argument('--timeout', type=float, default=3600, help='seconds per child process')
    p.add_argument('--max-gib', type=float, default=GOAL_GIB, help='skip sizes whose projected peak RSS exceeds this')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--name', default='celltype_million', help='results file stem')
    p.add_argument('--no-write', action='store_true', help='do not write results/')
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--n', type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    if args.child:
        print(json.dumps(_child(args)), flush=True)
        return {}
    if not args.no_write:
        from bio_gnn.core import start_run
        start_run(args.name, 'python bench/celltype_million.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
                  vars(args))
    print(f"{args.config} GAT, {args.genes} genes, {args.hvg} HVGs, batch {args.batch_size}, {args.threads} threads, "
          f"device {args.device}", flush=True)
    threads = {v: str(args.threads) for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS',
                                              'NUMBA_NUM_THREADS')}
    env = dict(os.environ, **threads, PYTHONWARNINGS='ignore', BIO_GNN_PROGRESS=os.environ.get('BIO_GNN_PROGRESS', '0'))
    runs, t_start = [], time.perf_counter()
    for n in sorted(int(s) for s in args.sizes.split(',')):
        rec = {'n_cells': n}
        proj = _projected_gib(runs, n)
        if proj is not None and proj > args.max_gib:
            rec.update(status='skipped', projected_peak_gib=round(proj, 1),
                       note=f'projected peak {proj:.1f} GiB > --max-gib {args.max_gib}')
            runs.append(rec)
            print(f"  n={n:>8d}: skipped, {rec['note']}", flush=True)
            continue
        cmd = [sys.executable, __file__, '--child', '--n', str(n)]
        cmd += [f'--{a.replace("_", "-")}={getattr(args, a)}' for a in
                ('genes', 'hvg', 'config', 'batch_size', 'eval_cells', 'threads', 'device', 'seed')]
        cmd += [f'--{a.replace("_", "-")}={getattr(args, a)}' for a in ('k', 'max_batches', 'num_neighbors')
                if getattr(args, a)]
        ok = run_child(cmd, rec, args.timeout, env)
        runs.append(rec)
        if not ok:
            print(f"  n={n:>8d}: {rec['status'].upper()} {rec['note']}", flush=True)
            continue
        print(f"  n={n:>8d}: all phases {rec['wall_time_s']:.1f} s, epoch {rec['seconds_per_epoch']:.1f} s "
              f"({rec['batches']}/{rec['batches_per_epoch']} batches), peak {rec['peak_rss_gib']:.2f} GiB, "
              f"{rec['n_edges']:,} edges, val macro-F1 {rec['val_macro_f1']}", flush=True)
        for ph in rec['phases']:
            print(f"      {ph['phase']:>12s}: {ph['seconds']:8.1f} s wall, {ph['cpu_seconds']:8.1f} s CPU, "
                  f"peak {ph['peak_rss_gib']:6.2f} GiB", flush=True)
    for r in runs:
        if r['status'] == 'ok' and r['n_cells'] >= GOAL_CELLS:
            r['meets_goal'] = r['peak_rss_gib'] <= GOAL_GIB and r['epoch_complete']
            print(f"  goal at {r['n_cells']:,} cells: a whole epoch within {GOAL_GIB} GiB: {r['meets_goal']} "
                  f"(peak {r['peak_rss_gib']:.2f} GiB)")
    out = {'runs': runs, 'goal': {'cells': GOAL_CELLS, 'peak_gib': GOAL_GIB}}
    if not args.no_write:
        from bio_gnn.core import write_results
        path = write_results(args.name, out, params=vars(args), dataset='synthetic_cardiac', seeds=[args.seed],
                             wall_time_s=round(time.perf_counter() - t_start, 1), device=args.device)
        print(f'wrote {path}')
    return out


if __name__ == '__main__':
    main()
