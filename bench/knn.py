"""Benchmark: exact k-NN graph construction, bio_gnn.knn against the usual anchors.

Every method runs in its own fresh Python process (faiss and torch in one process fight over OpenMP), with
a wall-clock timeout; its peak memory is the child's ru_maxrss. Each child loads the same seeded point cloud
(written once by the parent), runs the method once on 2,000 points as a warm-up (imports, numba/JIT
compilation and thread pools excluded from the timing, for every method alike), then times full
build + query runs of the k-NN graph (self excluded; --repeats, median reported). With --cold there is no
warm-up: each method's first call after its import is timed in --repeats fresh processes, interleaved across
methods, median reported. Recall is measured on a random sample of rows against an
exhaustive float64 search; a returned neighbour counts if its exact distance is within the exact k-th
distance (so ties are not penalised).

    python bench/knn.py                       # 50k / 200k / 1M points, 2-D and 50-D, k=15, 2 threads
    python bench/knn.py --quick               # 5k / 20k points: a smoke run
    python bench/knn.py --sizes 50000 --dims 50 --methods bio_gnn,faiss --timeout 120
    python bench/knn.py --cold --sizes 5000,20000,100000,200000,1000000 --dims 2 --name knn_bench_cold   # first calls

Writes runs/<timestamp>-<name>/results/<name>.json (bio_gnn.core.start_run + write_results; publish it with
`bio_gnn publish`) and prints a table: per (n, d) and method,
seconds, ratio to bio_gnn (method time / bio_gnn time), recall, peak memory (MiB).
"""
from __future__ import annotations
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

METHODS = ['bio_gnn', 'ckdtree', 'sklearn', 'faiss', 'pynndescent', 'torch_cdist']
EXACT = {'bio_gnn': True, 'ckdtree': True, 'sklearn': True, 'faiss': True, 'pynndescent': False, 'torch_cdist': True}
# how a method's time grows with n, used to project a run that would exceed the timeout (brute force: n^2)
def _growth(method: str, d: int) -> float:
    if method in ('faiss', 'torch_cdist') or (method == 'sklearn' and d > 15): return 2.0
    if method == 'bio_gnn' and d > 4: return 1.7
    if method == 'ckdtree' and d > 15: return 1.7
    return 1.15

# ----------------------------------------------------------------------------- child side
def _run_method(method: str, X: np.ndarray, k: int, threads: int) -> np.ndarray:
    "Indices [n, k] of the k nearest others of every point."
    n, d = X.shape
    if method == 'bio_gnn':
        from bio_gnn.knn import knn_graph
        return knn_graph(X, k, n_threads=threads)[1]
    if method == 'ckdtree':
        from scipy.spatial import cKDTree
        _, I = cKDTree(X, balanced_tree=False, compact_nodes=False).query(X, k + 1, workers=threads)
        return _drop_self(I)
    if method == 'sklearn':
        from sklearn.neighbors import NearestNeighbors
        return NearestNeighbors(n_neighbors=k, n_jobs=threads).fit(X).kneighbors(return_distance=False)
    if method == 'faiss':
        import faiss
        faiss.omp_set_num_threads(threads)
        index = faiss.IndexFlatL2(d); index.add(np.ascontiguousarray(X, dtype=np.float32))
        _, I = index.search(np.ascontiguousarray(X, dtype=np.float32), k + 1)
        return _drop_self(I)
    if method == 'pynndescent':
        from pynndescent import NNDescent
        index = NNDescent(X, n_neighbors=k + 1, n_jobs=threads, random_state=0, low_memory=True, verbose=False)
        return _drop_self(index.neighbor_graph[0])
    if method == 'torch_cdist':    # the thesis's approach: chunked cdist + topk
        import torch
        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        chunk = max(1, min(n, (1 << 28) // (4 * n)))            # a 1 GiB distance block
        out = []
        for i0 in range(0, n, chunk):
            Dc = torch.cdist(Xt[i0:i0 + chunk], Xt)
            Dc[torch.arange(Dc.shape[0]), torch.arange(i0, i0 + Dc.shape[0])] = float('inf')
            out.append(torch.topk(Dc, k, dim=1, largest=False).indices)
        return torch.cat(out).numpy()
    raise ValueError(f'unknown method {method!r}; known: {METHODS}')

_IMPORTS = {'bio_gnn': 'bio_gnn.knn', 'ckdtree': 'scipy.spatial', 'sklearn': 'sklearn.neighbors', 'faiss': 'faiss',
            'pynndescent': 'pynndescent', 'torch_cdist': 'torch'}

def _drop_self(I: np.ndarray) -> np.ndarray:
    "Remove each row's own index (or, if absent, its last column) from a k+1 neighbour list."
    n, k1 = I.shape
    is_self = I == np.arange(n)[:, None]
    drop = np.where(is_self.any(1), is_self.argmax(1), k1 - 1)
    keep = np.ones_like(I, dtype=bool); keep[np.arange(n), drop] = False
    return I[keep].reshape(n, k1 - 1)

def _vm_hwm_mb() -> float:
    "Peak resident memory of this process image in MiB: VmHWM (ru_maxrss would include the parent's memory, inherited across fork + exec on Linux)."
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith('VmHWM:'): return int(line.split()[1]) / 1024
    except OSError: pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def _child(args) -> None:
    threads = args.threads
    for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'NUMBA_NUM_THREADS'): os.environ[v] = str(threads)
    if args.method in ('bio_gnn', 'torch_cdist'):
        import torch; torch.set_num_threads(threads)
    X = np.load(args.data)
    sample = np.load(args.sample_file)
    if args.cold:   # the first call of a fresh process, as a user meets it: the method's import excluded, nothing else
        __import__(_IMPORTS[args.method])
        args.repeats = 1
    else: _run_method(args.method, X[:2000], args.k, threads)    # warm-up: imports, JIT, thread pools
    rss_before = _vm_hwm_mb()
    times = []
    for rep in range(max(1, args.repeats)):          # repeats stop once they would eat more than half the timeout
        t0 = time.perf_counter()
        I = _run_method(args.method, X, args.k, threads)
        times.append(time.perf_counter() - t0)
        if sum(times) * (len(times) + 1) / len(times) > args.timeout / 2: break
        if rep < args.repeats - 1: del I
    np.save(args.out_idx, np.ascontiguousarray(I[sample]))
    peak = _vm_hwm_mb()
    print(json.dumps({'seconds': float(np.median(times)), 'times': [round(t, 4) for t in times], 'peak_rss_mb': round(peak, 1), 'rss_before_mb': round(rss_before, 1)}))

# ----------------------------------------------------------------------------- parent side
def _exact_reference(X: np.ndarray, sample: np.ndarray, k: int) -> np.ndarray:
    "Exact k-th nearest-other distance of each sampled row (float64, exhaustive)."
    import torch
    X64 = torch.from_numpy(X.astype(np.float64)); Q = X64[sample]
    sq = (X64 ** 2).sum(1); best = []
    for s0 in range(0, len(sample), 256):
        q = Q[s0:s0 + 256]
        d2 = (q ** 2).sum(1)[:, None] + sq[None] - 2 * q @ X64.T
        d2[torch.arange(len(q)), torch.from_numpy(sample[s0:s0 + 256])] = float('inf')
        cand = torch.topk(d2, k + 8, dim=1, largest=False).indices                  # then exact distances
        exact = ((X64[cand] - q[:, None]) ** 2).sum(-1)
        best.append(torch.sort(exact, dim=1).values[:, k - 1])
    return torch.cat(best).numpy()

def _recall(X: np.ndarray, sample: np.ndarray, I: np.ndarray, kth: np.ndarray) -> float:
    X64 = X.astype(np.float64)
    d2 = ((X64[I] - X64[sample][:, None]) ** 2).sum(-1)
    valid = (I != sample[:, None]) & (d2 <= kth[:, None] * (1 + 1e-9))
    distinct = np.array([len(set(r)) == len(r) for r in I])
    return float((valid.sum(1) * distinct).sum() / I.size)

def _cpu_info() -> dict:
    model = platform.processor()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): model = line.split(':', 1)[1].strip(); break
    except OSError: pass
    return {'model': model, 'logical_cpus': os.cpu_count(), 'platform': platform.platform()}

def _fmt_row(cells, widths): return '  '.join(str(c).rjust(w) for c, w in zip(cells, widths))

def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sizes', default='50000,200000,1000000', help='comma-separated numbers of points')
    p.add_argument('--dims', default='2,50', help='comma-separated dimensions')
    p.add_argument('--methods', default=','.join(METHODS), help=f'comma-separated, from {METHODS}')
    p.add_argument('--k', type=int, default=15)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--timeout', type=float, default=300, help='seconds allowed for the timed run; runs projected to take longer are skipped')
    p.add_argument('--warmup-timeout', type=float, default=300, help='extra seconds allowed for the child to start, import and warm up (JIT)')
    p.add_argument('--repeats', type=int, default=3, help='timed runs per method in its process (with --cold: fresh processes per method, interleaved); the median is reported (fewer when they would take over half the timeout)')
    p.add_argument('--sample', type=int, default=1000, help='rows whose neighbours are checked for recall')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--quick', action='store_true', help='small sizes (5k, 20k) for a smoke run')
    p.add_argument('--name', default='knn_bench', help='results file stem')
    p.add_argument('--no-write', action='store_true', help='do not write results/')
    p.add_argument('--cold', action='store_true',
                   help="time each method's first call in a fresh process (its import excluded, no warm-up)")
    # child mode (internal)
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    for a in ('method', 'data', 'out_idx', 'sample_file'): p.add_argument(f'--{a}', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child: return _child(args)

    sizes = [5000, 20000] if args.quick else [int(s) for s in args.sizes.split(',')]
    dims = [int(d) for d in args.dims.split(',')]
    methods = [m.strip() for m in args.methods.split(',')]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown: p.error(f'unknown methods {unknown}; known: {METHODS}')
    if 'bio_gnn' in methods: methods = ['bio_gnn'] + [m for m in methods if m != 'bio_gnn']
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bio_gnn.knn import make_embedding
    if not args.no_write:   # results into a run folder of their own (publish with `bio_gnn publish`)
        from bio_gnn.core import start_run
        start_run(args.name, 'python bench/knn.py ' + ' '.join(argv if argv is not None else sys.argv[1:]), vars(args))
    tmp = Path(tempfile.mkdtemp(prefix='knn_bench_'))
    runs, t_start = [], time.perf_counter()
    print(f'k={args.k}, {args.threads} threads, timeout {args.timeout:.0f} s, methods {methods}', flush=True)
    for d in dims:
        for n in sizes:
            X = make_embedding(n, d, seed=args.seed)
            data = tmp / f'X_{n}_{d}.npy'; np.save(data, X)
            sample = np.random.default_rng(args.seed).choice(n, min(n, args.sample), replace=False)
            sfile = tmp / f'sample_{n}_{d}.npy'; np.save(sfile, sample)
            kth = _exact_reference(X, sample, args.k)
            todo = []
            for m in methods:
                rec = {'method': m, 'n': n, 'd': d, 'exact_method': EXACT[m]}
                prev = [r for r in runs if r['method'] == m and r['d'] == d and r['status'] == 'ok']
                if prev:
                    last = max(prev, key=lambda r: r['n'])
                    proj = last['seconds'] * (n / last['n']) ** _growth(m, d)
                    if proj > args.timeout and m != 'bio_gnn':   # our own method always runs (and may time out)
                        rec.update(status='skipped', projected_seconds=round(proj, 1), seconds=None,
                                   note=f"projected from n={last['n']} as n^{_growth(m, d)}")
                        runs.append(rec); print(f'  n={n:>8d} d={d:>3d} {m:>12s}: skipped, projected {proj:.0f} s', flush=True); continue
                if any(r['method'] == m and r['d'] == d and r['status'] == 'timeout' for r in runs):
                    rec.update(status='skipped', seconds=None, note='a smaller n timed out'); runs.append(rec)
                    print(f'  n={n:>8d} d={d:>3d} {m:>12s}: skipped (smaller n timed out)', flush=True); continue
                todo.append(rec)
            # warm: one process per method, --repeats timed runs inside it. Cold: --repeats fresh processes per
            # method, interleaved (method A, B, C, A, B, C, ...) so that drift on the machine hits every method alike.
            n_proc = max(1, args.repeats) if args.cold else 1
            for rep in range(n_proc):
                for rec in todo:
                    if rec.get('status') in ('timeout', 'error'): continue
                    m = rec['method']
                    out_idx = tmp / f'I_{m}_{n}_{d}.npy'
                    cmd = [sys.executable, __file__, '--child', '--method', m, '--data', str(data), '--out_idx', str(out_idx),
                           '--k', str(args.k), '--repeats', str(args.repeats), '--timeout', str(args.timeout), '--threads', str(args.threads), '--sample_file', str(sfile)] + (['--cold'] if args.cold else [])
                    env = dict(os.environ, **{v: str(args.threads) for v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'NUMBA_NUM_THREADS')},
                               PYTHONWARNINGS='ignore', TF_CPP_MIN_LOG_LEVEL='3')
                    t0 = time.perf_counter()
                    try:
                        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout + args.warmup_timeout, env=env)
                    except subprocess.TimeoutExpired:
                        rec.update(status='timeout', seconds=round(args.timeout, 1), note=f'process killed after {args.timeout + args.warmup_timeout:.0f} s (timed run + warm-up allowance)')
                        print(f'  n={n:>8d} d={d:>3d} {m:>12s}: TIMEOUT (process killed after {args.timeout + args.warmup_timeout:.0f} s)', flush=True); continue
                    if cp.returncode != 0:
                        rec.update(status='error', seconds=None, note=cp.stderr.strip().splitlines()[-1][:300] if cp.stderr.strip() else f'exit {cp.returncode}')
                        print(f'  n={n:>8d} d={d:>3d} {m:>12s}: ERROR {rec["note"]}', flush=True); continue
                    res = json.loads(cp.stdout.strip().splitlines()[-1])
                    rec.setdefault('times', []).extend(res['times'])
                    rec['peak_rss_mb'] = max(rec.get('peak_rss_mb', 0), res['peak_rss_mb'])
                    rec['rss_before_mb'] = res['rss_before_mb']
                    rec['process_seconds'] = round(rec.get('process_seconds', 0) + time.perf_counter() - t0, 1)
                    rec['recall'] = min(rec.get('recall', 1.0), round(_recall(X, sample, np.load(out_idx), kth), 6))
            for rec in todo:
                if rec.get('status') not in ('timeout', 'error'):
                    rec.update(status='ok', seconds=round(float(np.median(rec['times'])), 4))
                    if args.cold: rec['fresh_processes'] = len(rec['times'])
                    print(f"  n={n:>8d} d={d:>3d} {rec['method']:>12s}: {rec['seconds']:9.3f} s  recall {rec['recall']:.4f}  peak {rec['peak_rss_mb']:.0f} MiB", flush=True)
                runs.append(rec)
            data.unlink()
    # ratios to bio_gnn and the table
    for r in runs:
        ours = next((o for o in runs if o['method'] == 'bio_gnn' and o['n'] == r['n'] and o['d'] == r['d'] and o['status'] == 'ok'), None)
        t = r['seconds'] if r['status'] in ('ok', 'timeout') else r.get('projected_seconds')
        r['ratio_to_bio_gnn'] = round(t / ours['seconds'], 2) if (ours and t) else None
    table = [f"k-NN graph, k={args.k}, {args.threads} threads, {_cpu_info()['model']}",
             "cell: seconds, time ratio to bio_gnn, recall vs exact, peak MiB; ~ projected (skipped), > timeout (lower bound)"]
    widths = [8, 3] + [30] * len(methods)
    table.append(_fmt_row(['n', 'd'] + methods, widths))
    for d in dims:
        for n in sizes:
            cells = []
            for m in methods:
                r = next(r for r in runs if r['method'] == m and r['n'] == n and r['d'] == d)
                q = r.get('ratio_to_bio_gnn')
                if r['status'] == 'ok': cells.append(f"{r['seconds']:.3f}s x{q:.2f} r={r['recall']:.4f} {r['peak_rss_mb']:.0f}M")
                elif r['status'] == 'timeout': cells.append(f">{r['seconds']:.0f}s >x{q:.0f} timeout" if q else f">{r['seconds']:.0f}s timeout")
                elif r['status'] == 'skipped' and r.get('projected_seconds'): cells.append(f"~{r['projected_seconds']:.0f}s ~x{q:.0f} skipped" if q else f"~{r['projected_seconds']:.0f}s skipped")
                else: cells.append(r['status'] + (f": {r.get('note', '')[:20]}" if r['status'] == 'error' else ''))
            table.append(_fmt_row([n, d] + cells, widths))
    # targets
    targets = {(50000, 2): 0.1, (50000, 50): 3.0, (1000000, 2): 3.0}
    checks = []
    for (n, d), limit in targets.items():
        o = next((r for r in runs if r['method'] == 'bio_gnn' and r['n'] == n and r['d'] == d and r['status'] == 'ok'), None)
        if o: checks.append({'n': n, 'd': d, 'target_seconds': limit, 'seconds': o['seconds'], 'met': o['seconds'] <= limit})
    for d in dims:
        for n in sizes:
            o = next((r for r in runs if r['method'] == 'bio_gnn' and r['n'] == n and r['d'] == d and r['status'] == 'ok'), None)
            anchors = [r for r in runs if r['method'] != 'bio_gnn' and r['exact_method'] and r['n'] == n and r['d'] == d and r['status'] == 'ok']
            if o and anchors:
                best = min(anchors, key=lambda r: r['seconds'])
                checks.append({'n': n, 'd': d, 'target': 'at least as fast as the best exact anchor', 'best_anchor': best['method'],
                               'anchor_seconds': best['seconds'], 'seconds': o['seconds'], 'met': o['seconds'] <= best['seconds']})
    print('\n'.join(table))
    for c in checks: print(('MET    ' if c['met'] else 'MISSED ') + json.dumps(c))
    result = {'runs': runs, 'table': table, 'targets': checks}
    if not args.no_write:
        from bio_gnn.core import write_results
        path = write_results(args.name, result, params={'k': args.k, 'threads': args.threads, 'sizes': sizes, 'dims': dims, 'methods': methods,
                                                        'timeout_s': args.timeout, 'recall_sample': args.sample, 'seed': args.seed, 'quick': args.quick},
                             dataset='bio_gnn.knn.make_embedding (seeded Gaussian mixture)', seeds=[args.seed],
                             wall_time_s=round(time.perf_counter() - t_start, 1), cpu=_cpu_info(),
                             protocol=(f'cold: the first call after importing the method, no warm-up, in {args.repeats} fresh processes per method interleaved across methods, median'
                                       if args.cold else 'one fresh process per run; 2k-point warm-up excluded; timed: build+query '
                                       'of the whole graph, median of --repeats runs in the process (times lists each)'))
        print('wrote', path)
    return result

if __name__ == '__main__':
    main()
