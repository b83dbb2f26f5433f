"""Benchmark: the backends of `bio_gnn.attention.attention_aggregate` side by side on the connectome's shapes.

The connectome GAT runs one graph (302 neurons, the Cook 2019 hermaphrodite wiring) per time step of every window
of a batch, so its aggregation is many small products sharing one edge set: S = batch x 50 steps x heads slices of
C channels per head. Per shape and thread count this times forward + backward (median of --repeats, the backends
interleaved) of:

* `sparse`: the library's sparse backend (block-diagonal CSR products over chunks of slices);
* `per-slice`: the sparse backend as it was before (one CSR product per slice; kept here as the anchor);
* `dense`: dense [slices, N, N] blocks and torch.bmm;
* `messages`: the plain autograd product that materialises [E, S, C] messages (PyG's way), where it fits
  (at most --max-messages elements);

checks that every backend's output and gradients equal the sparse backend's (the per-slice code's exactly, the
others to 1e-4 relative), and prints the ratios (backend time / sparse time). Shapes: the designed widths
64/128/256 with heads 4/4/2 (16, 32 and 128 channels per head) at 4 and 16 windows per batch, and the cpu
profile's widths 4/4/8 with 2 heads (2-4 channels).

Then, per thread count, whole per-step training steps (forward, per-step loss, backward) of the designed GAT-LSTM
on windows of simulated worms (bench/_worms.py) with the aggregation as it is and as it was before the
block-diagonal products (`previous_aggregation`: per-slice products, and an 'auto' that chose 'dense' for the
128-channel layer), interleaved, with their parameter gradients checked equal (1e-3 relative).

    python bench/attention_backends.py                       # 1 and 2 threads
    python bench/attention_backends.py --threads 1 --repeats 2 --step-batches 4

Last, one large graph as the cell-type model has (50,000 nodes, 13 random in-edges each, eight heads of 32 and of
128 channels): the sparse backend as it chooses its blocks (one slice per product there: `MIN_BLOCK_SLICES`), with
blocks forced (`MIN_BLOCK_SLICES = 1`, two slices per product at 32 channels) and the previous per-slice code.

    python bench/attention_backends.py --sections large --threads 1 --repeats 4 --name attention_backends_large

Writes runs/<timestamp>-<name>/results/<name>.json (bio_gnn.core.start_run + write_results).
"""
from __future__ import annotations
import argparse, statistics, sys, time
from contextlib import nullcontext
from pathlib import Path

SHAPES = [  # (label, windows per batch, heads, channels per head)
    ('design layer 1, 4 windows', 4, 4, 16), ('design layer 2, 4 windows', 4, 4, 32),
    ('design layer 3, 4 windows', 4, 2, 128), ('design layer 1, 16 windows', 16, 4, 16),
    ('design layer 2, 16 windows', 16, 4, 32), ('design layer 3, 16 windows', 16, 2, 128),
    ('cpu profile layer 1, 16 windows', 16, 2, 2), ('cpu profile layer 3, 16 windows', 16, 2, 4)]


def _old_sparse_forward(xf, af, src, dst, num_nodes, ct):
    "The previous sparse forward: one CSR product per slice."
    import torch
    from bio_gnn.attention import _csr, _row_ptr
    perm = torch.argsort(dst, stable=True)
    ptr, col, a_sorted = _row_ptr(dst, num_nodes), src[perm], af[perm]
    out = xf.new_empty((num_nodes, xf.shape[1], xf.shape[2]), dtype=ct)
    for s in range(xf.shape[1]):
        out[:, s] = torch.sparse.mm(_csr(ptr, col, a_sorted[:, s].to(ct), (num_nodes, xf.shape[0])), xf[:, s].to(ct))
    return out


def _old_sparse_backward(go, xf, af, src, dst, need_x, need_alpha, ct):
    "The previous sparse backward: per slice, one CSR product (grad x) and one sampled product (grad alpha)."
    import torch
    from bio_gnn.attention import _csr, _row_ptr
    n_src, S = xf.shape[0], xf.shape[1]
    gx = ga = None
    if need_x:
        pt = torch.argsort(src, stable=True)
        ptr_t, col_t, a_t = _row_ptr(src, n_src), dst[pt], af[pt]
        gx = torch.empty((n_src, S, xf.shape[2]), dtype=ct, device=xf.device)
        for s in range(S):
            gx[:, s] = torch.sparse.mm(_csr(ptr_t, col_t, a_t[:, s].to(ct), (n_src, go.shape[0])), go[:, s])
    if need_alpha:
        perm = torch.argsort(dst, stable=True)
        pattern = _csr(_row_ptr(dst, go.shape[0]), src[perm], torch.zeros(len(perm), dtype=ct), (go.shape[0], n_src))
        ga = torch.empty((af.shape[0], S), dtype=ct, device=xf.device)
        for s in range(S):
            ga[perm, s] = torch.sparse.sampled_addmm(pattern, go[:, s].contiguous(), xf[:, s].to(ct).t(),
                                                     beta=0.0).values()
    return gx, ga


def _old_choose_backend(num_nodes, n_src, n_edges, n_slices, channels):
    "The previous 'auto': messages when small, dense for small >= 5 % filled graphs of >= 128 channels, else sparse."
    from bio_gnn.attention import SMALL_MESSAGES
    if n_edges * n_slices * channels <= SMALL_MESSAGES: return 'messages'
    cells = num_nodes * n_src
    dense = cells <= (1 << 22) and n_edges >= 0.05 * cells and channels >= 128 and n_slices >= 64
    return 'dense' if dense else 'sparse'


class previous_aggregation:
    "Context: bio_gnn.attention's sparse backend and 'auto' rule as they were before the block-diagonal products."
    NAMES = ('_sparse_forward', '_sparse_backward', 'choose_backend')

    def __enter__(self):
        import bio_gnn.attention as att
        self.saved = {n: getattr(att, n) for n in self.NAMES}
        for n, f in zip(self.NAMES, (_old_sparse_forward, _old_sparse_backward, _old_choose_backend)):
            setattr(att, n, f)
        return self

    def __exit__(self, *exc):
        import bio_gnn.attention as att
        for n, f in self.saved.items(): setattr(att, n, f)


def step_rows(args, threads: int) -> list[dict]:
    "Whole per-step training steps of the designed GAT-LSTM, the aggregation as it is and as it was, interleaved."
    import torch
    sys.path.insert(0, str(Path(__file__).parent))
    from _worms import bench_worms
    from bio_gnn.models.connectome import build_connectome_model
    from bio_gnn.models.connectome_training import SequenceTask
    cfg, graph, wins = bench_worms(args.window, args.window)
    model, task, rows = build_connectome_model('gat_lstm', graph, cfg, seed=0).train(), SequenceTask(), []
    def step(b):
        torch.manual_seed(0)
        task.loss(task.forward(model, b), b, 'train').backward()
        grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
        model.zero_grad(set_to_none=True)
        return grads
    for B in [int(b) for b in args.step_batches.split(',')]:
        items = [wins[i % len(wins)] for i in range(1, B + 1)]   # the bench worms have 9 windows: repeated
        b = {k: torch.stack([it[k] for it in items]) for k in items[0]}
        times, grads = {'now': [], 'before': []}, {}
        for r in range(args.repeats + 1):
            for name in times:
                with (previous_aggregation() if name == 'before' else nullcontext()):
                    t0 = time.perf_counter()
                    g = step(b)
                    if r: times[name].append(time.perf_counter() - t0)
                    else: grads[name] = g
        err = max(float((a - c).abs().max()) / max(float(c.abs().max()), 1e-12)
                  for a, c in zip(grads['now'], grads['before']))
        if err > 1e-3: raise AssertionError(f"the two aggregations' parameter gradients differ by {err:.2e} (relative)")
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append({'threads': threads, 'windows': B, 'step_now_s': med['now'], 'step_before_s': med['before'],
                     'speedup': med['before'] / med['now'], 'max_rel_grad_diff': err})
        print(f"{threads} thread(s) | designed GAT-LSTM training step, {B} windows | now {med['now']:.2f} s, before "
              f"{med['before']:.2f} s ({med['before'] / med['now']:.2f}x) | gradients equal to {err:.1e}", flush=True)
    return rows


def large_rows(args, threads: int) -> list[dict]:
    "One 50,000-node graph, eight heads: the sparse backend as chosen, with blocks forced, and per slice, interleaved."
    import torch
    import bio_gnn.attention as att
    gen = torch.Generator().manual_seed(0)
    N, k = 50_000, 13
    ei = torch.stack([torch.randint(0, N, (N * k,), generator=gen), torch.arange(N).repeat_interleave(k)])
    rows = []
    for C in (32, 128):
        x = torch.randn(N, 8, C, generator=gen, requires_grad=True)
        a = torch.rand(N * k, 8, generator=gen, requires_grad=True)
        g = torch.randn(N, 8, C, generator=gen)
        variants = {'as chosen': nullcontext, 'blocks forced': lambda: _setting(att, 'MIN_BLOCK_SLICES', 1),
                    'per slice (before)': previous_aggregation}
        times, outs = {v: [] for v in variants}, {}
        for r in range(args.repeats + 1):
            for v, ctx in variants.items():
                with ctx():
                    t0 = time.perf_counter()
                    out = att.attention_aggregate(x, a, ei, N, 'sparse')
                    grads = torch.autograd.grad(out, (x, a), g)
                    if r: times[v].append(time.perf_counter() - t0)
                    else: outs[v] = (out.detach(), *grads)
        for v in variants:
            for got, want in zip(outs[v], outs['as chosen']):
                if not torch.allclose(got, want, rtol=1e-5, atol=1e-5): raise AssertionError(f"{v} differs at C={C}")
        med = {v: statistics.median(t) for v, t in times.items()}
        rows.append({'threads': threads, 'nodes': N, 'edges': N * k, 'heads': 8, 'channels': C,
                     **{f'{v}_s': t for v, t in med.items()}})
        print(f"{threads} thread(s) | 50,000-node graph, 8 heads x {C} channels | "
              + '  '.join(f"{v} {t:.3f} s ({t / med['as chosen']:.2f}x)" for v, t in med.items()), flush=True)
    return rows


class _setting:
    "Context: module.name = value inside the block."
    def __init__(self, module, name, value): self.m, self.n, self.v = module, name, value
    def __enter__(self): self.old = getattr(self.m, self.n); setattr(self.m, self.n, self.v)
    def __exit__(self, *exc): setattr(self.m, self.n, self.old)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--threads', default='1,2', help='torch CPU threads, comma-separated')
    p.add_argument('--repeats', type=int, default=3, help='timed repeats per measurement (median)')
    p.add_argument('--window', type=int, default=50, help='time steps per window')
    p.add_argument('--max-messages', type=int, default=1 << 27, help="largest E x S x C of the 'messages' backend")
    p.add_argument('--name', default='attention_backends_bench', help='results name (and run folder suffix)')
    p.add_argument('--step-batches', default='4,16', help="windows per batch of the whole training steps ('' skips)")
    p.add_argument('--sections', default='backends,steps,large', help='which parts to run, comma-separated')
    args = p.parse_args(argv)
    from bio_gnn.core import start_run, write_results
    command = 'python bench/attention_backends.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    start_run(args.name, command, vars(args))
    import torch
    from bio_gnn.attention import attention_aggregate
    from bio_gnn.worm import load_connectome, connectome_graph
    graph = connectome_graph(load_connectome('cook2019_herm'))
    ei, N = graph.edge_index, graph.num_nodes
    E = ei.shape[1]
    print(f"Cook 2019 hermaphrodite: {N} neurons, {E} edges; {args.window} steps per window")
    backends = {'sparse': lambda x, a: attention_aggregate(x, a, ei, N, 'sparse'),
                'per-slice': lambda x, a: _previous(lambda: attention_aggregate(x, a, ei, N, 'sparse')),
                'dense': lambda x, a: attention_aggregate(x, a, ei, N, 'dense'),
                'messages': lambda x, a: attention_aggregate(x, a, ei, N, 'messages')}
    def _previous(fn):
        with previous_aggregation(): return fn()
    rows, steps, large = [], [], []
    sections = set(args.sections.split(','))
    if sections - {'backends', 'steps', 'large'}: p.error(f"--sections {args.sections}: backends, steps, large")
    for threads in [int(t) for t in args.threads.split(',')]:
        torch.set_num_threads(threads)
        for label, B, H, C in (SHAPES if 'backends' in sections else []):
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(N, B * args.window, H, C, generator=gen, requires_grad=True)
            a = torch.rand(E, B * args.window, H, generator=gen).requires_grad_()
            g = torch.randn(N, B * args.window, H, C, generator=gen)
            S = B * args.window * H
            names = [b for b in backends if b != 'messages' or E * S * C <= args.max_messages]
            results, times = {}, {b: [] for b in names}
            for r in range(args.repeats + 1):            # the first round warms up and is not timed
                for b in names:
                    t0 = time.perf_counter()
                    out = backends[b](x, a)
                    grads = torch.autograd.grad(out, (x, a), g)
                    if r: times[b].append(time.perf_counter() - t0)
                    else: results[b] = (out.detach(), *grads)
            ref = results['sparse']
            if not all(torch.equal(got, want) for got, want in zip(results['per-slice'], ref)):
                raise AssertionError(f"the block-diagonal products differ from the per-slice ones at {label}")
            for b in names:
                for got, want in zip(results[b], ref):
                    err = float((got - want).abs().max()) / max(float(want.abs().max()), 1e-12)
                    if err > 1e-4: raise AssertionError(f"{b} differs from sparse by {err:.2e} (relative) at {label}")
            med = {b: statistics.median(v) for b, v in times.items()}
            row = {'threads': threads, 'shape': label, 'windows': B, 'heads': H, 'channels': C, 'slices': S,
                   **{f'{b}_s': med.get(b) for b in backends},
                   **{f'{b}_over_sparse': med[b] / med['sparse'] for b in names if b != 'sparse'}}
            rows.append(row)
            ratios = '  '.join(f"{b} {med[b]:.3f} s ({med[b] / med['sparse']:.2f}x)" for b in names if b != 'sparse')
            print(f"{threads} thread(s) | {label} (S={S}, C={C}) | sparse {med['sparse']:.3f} s | {ratios}", flush=True)
        if args.step_batches and 'steps' in sections: steps += step_rows(args, threads)
        if 'large' in sections: large += large_rows(args, threads)
    result = {'rows': rows, 'steps': steps, 'large_graph': large, 'n_edges': E, 'n_neurons': N, 'window': args.window}
    path = write_results(args.name, result, params=vars(args), device='cpu')
    print(f"wrote {path}")
    return result


if __name__ == '__main__':
    main()
