"""Benchmark: glibc's default allocator behaviour against freed memory kept in the process, on one training step of
the connectome GAT-LSTM at its designed size (per-step loss, simulated worms, one CPU thread).

PyTorch's CPU tensors come from malloc; glibc serves blocks above its mmap threshold (at most 32 MiB) with a fresh
mmap and returns them with munmap on free, so every large activation of every step is page-faulted in again. On
the project's virtual machines a third of a design-size fit's CPU time went to the kernel (`/proc/<pid>/stat`:
292 M minor faults, stime 892 s against utime 1,833 s). The retained variant starts the same step with
`MALLOC_MMAP_MAX_=0` (no mmap: large blocks from the heap), `MALLOC_TRIM_THRESHOLD_=64 GiB` (the heap is not
trimmed) and `MALLOC_TOP_PAD_=1 GiB`; PyTorch's performance guide suggests a caching allocator (jemalloc,
tcmalloc) for the same reason: the third variant, where jemalloc is installed (Debian: `libjemalloc2`), preloads
it with `MALLOC_CONF=oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1` (large blocks from the ordinary
arenas, freed pages never returned). Over whole epochs glibc's retained heap fragments (the design-size job's
resident set grew past 20 GB and was killed for memory) while jemalloc's size classes hold it near the step's
peak; a few steps cannot show that, so the long runs' resident sets are stated in checkpoints/README.md.
Each variant runs in its own process (the settings are read at start-up), the variants alternating --rounds
times; per variant: the median step time over the repeats after a warm-up step, minor page faults, user and system
CPU seconds, and the peak resident set (ru_maxrss), which a retained heap may raise.

    python bench/cpu_malloc.py                 # design size, batch of 4 windows, 3 timed steps, 2 rounds
    python bench/cpu_malloc.py --small --repeats 1 --rounds 1   # a smoke run at tiny widths

Writes runs/<timestamp>-cpu_malloc_bench/results/cpu_malloc_bench.json and prints each variant's ratios to the
default.
"""
from __future__ import annotations
import argparse, json, os, statistics, sys
from pathlib import Path
from _worms import bench_worms   # bench/_worms.py: this script's folder is on sys.path
from _child import run_child

RETAIN = {'MALLOC_MMAP_MAX_': '0', 'MALLOC_TRIM_THRESHOLD_': str(64 << 30), 'MALLOC_TOP_PAD_': str(1 << 30)}
JEMALLOC_CONF = 'oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1'
JEMALLOC_PATHS = ('/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
                  '/usr/lib64/libjemalloc.so.2', '/usr/local/lib/libjemalloc.so.2')
ENV_KEYS = (*RETAIN, 'LD_PRELOAD', 'MALLOC_CONF')


def variants(base: dict, jemalloc: str|None) -> dict[str, dict]:
    "Each variant's environment: glibc's defaults, glibc retaining freed memory, and jemalloc where it is installed."
    out = {'default': base, 'retained': {**base, **RETAIN}}
    if jemalloc:
        out['jemalloc'] = {**base, 'LD_PRELOAD': jemalloc, 'MALLOC_CONF': JEMALLOC_CONF}
    return out


def child(args) -> dict:
    "One variant in this process: the step timed --repeats times after a warm-up; faults and CPU time of those."
    import resource, time
    import torch
    from bio_gnn.models.connectome import build_connectome_model
    from bio_gnn.models.connectome_training import SequenceTask
    torch.set_num_threads(args.threads)
    cfg, graph, wins = bench_worms(50, 50, args.small)
    items = [wins[i] for i in range(1, args.batch + 1)]
    b = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    m = build_connectome_model('gat_lstm', graph, cfg, seed=0).train()
    task = SequenceTask()
    def step():
        torch.manual_seed(0)
        task.loss(task.forward(m, b), b, 'train').backward()
        m.zero_grad(set_to_none=True)
    step()   # warm-up: thread pools, first-call dispatch, the heap's first growth
    r0, ts = resource.getrusage(resource.RUSAGE_SELF), []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t0)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    n = args.repeats
    return {'step_s': statistics.median(ts), 'minor_faults_per_step': (r1.ru_minflt - r0.ru_minflt) / n,
            'user_s_per_step': (r1.ru_utime - r0.ru_utime) / n, 'sys_s_per_step': (r1.ru_stime - r0.ru_stime) / n,
            'peak_rss_mb': r1.ru_maxrss / 1024}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--batch', type=int, default=4, help='windows per step')
    p.add_argument('--repeats', type=int, default=3, help='timed steps per process (median)')
    p.add_argument('--rounds', type=int, default=2, help='processes per variant, alternating')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    p.add_argument('--small', action='store_true', help='tiny widths (a smoke run), not the designed size')
    p.add_argument('--name', default='cpu_malloc_bench', help='results name (and run folder suffix)')
    p.add_argument('--jemalloc', default=next((q for q in JEMALLOC_PATHS if Path(q).exists()), None),
                   help='path of libjemalloc.so.2 (default: found in the usual places; none skips it)')
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return {}
    from bio_gnn.core import start_run, write_results
    command = 'python bench/cpu_malloc.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    start_run(args.name, command, vars(args))
    base = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
    jem = None if args.jemalloc in (None, 'none') else args.jemalloc
    if jem and not Path(jem).exists():
        raise FileNotFoundError(f"--jemalloc {jem}: no such file; install jemalloc (Debian: apt install libjemalloc2)"
                                " or pass --jemalloc none to skip that variant")
    envs = variants(base, jem)
    cmd = [sys.executable, __file__, '--child', '--batch', str(args.batch), '--repeats', str(args.repeats),
           '--threads', str(args.threads)] + (['--small'] if args.small else [])
    rows = []
    for r in range(args.rounds):
        for variant, env in envs.items():
            rec = {'variant': variant, 'round': r}
            if not run_child(cmd, rec, timeout=1800, env={**env, 'OMP_NUM_THREADS': str(args.threads)}):
                raise RuntimeError(f"{variant} child failed: {rec.get('note')}")
            rows.append(rec)
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rec.items()}), flush=True)
    med = {v: {k: statistics.median(x[k] for x in rows if x['variant'] == v)
               for k in ('step_s', 'minor_faults_per_step', 'user_s_per_step', 'sys_s_per_step', 'peak_rss_mb')}
           for v in envs}
    d = med['default']
    ratios = {f'{v}: {name}': f(d, q) for v, q in med.items() if v != 'default' for name, f in (
        ('step_time_default_over_variant', lambda a, b: a['step_s'] / b['step_s']),
        ('sys_time_default_over_variant', lambda a, b: a['sys_s_per_step'] / max(b['sys_s_per_step'], 1e-9)),
        ('faults_default_over_variant', lambda a, b: a['minor_faults_per_step'] / max(b['minor_faults_per_step'], 1)),
        ('peak_rss_variant_over_default', lambda a, b: b['peak_rss_mb'] / a['peak_rss_mb']))}
    print(f"\n variant  | step (s) | minor faults / step | user / sys s per step | peak RSS (MiB)")
    for v, q in med.items():
        print(f" {v:8s} | {q['step_s']:.2f} | {q['minor_faults_per_step']:,.0f} | {q['user_s_per_step']:.2f} / "
              f"{q['sys_s_per_step']:.2f} | {q['peak_rss_mb']:.0f}")
    print(' ratios: ' + ', '.join(f'{k_} {v_:.2f}' for k_, v_ in ratios.items()))
    result = {'rows': rows, 'median': med, 'ratios': ratios, 'retain_env': RETAIN, 'jemalloc': jem,
              'jemalloc_conf': JEMALLOC_CONF if jem else None, 'batch': args.batch,
              'threads': args.threads, 'designed_size': not args.small}
    path = write_results(args.name, result, params=vars(args), device='cpu')
    print(f"wrote {path}")
    return result


if __name__ == '__main__':
    main()
