"""Benchmark: the cost of bio_gnn's distributed training path (torch.distributed, DDP) against the plain Trainer.

For each torch training path of the engine (a DataLoader of rows; a whole graph, full batch; a
NeighborSubgraphLoader), the same global work (same data, same global batch, same epochs) runs three ways: the
plain single-process Trainer; the distributed path with 1 process (process group + DDP, nothing to share: the
fixed overhead); and with 2 processes (each its half of every global batch: overhead plus communication).
Every process gets --threads torch threads. The ranks are local processes (bio_gnn.distributed.run_distributed,
gloo on the CPU, or NCCL with --backend nccl, one GPU per rank).

With --plain-threads N the plain path also runs on N threads (e.g. as many cores as the 2-process job uses); on a
machine shared with other jobs, extra threads oversubscribe the cores and that row measures contention.
Reported per path and way: seconds per epoch (median over the epochs after the first), its ratio to the plain path,
and, from a DDP communication hook, the gradient bytes all-reduced per optimiser step and the number of all-reduce
calls (buckets) per step. A ring all-reduce moves about 2 (W-1)/W times those bytes in and out of each rank, which
is what a cluster link must carry per step; divide by the link's bandwidth to estimate the communication time.

    python bench/distributed.py                       # the three paths, 8 epochs, 1 thread per process
    python bench/distributed.py --quick               # a smoke run
    python bench/distributed.py --paths dataset --epochs 5 --rows 100000

Writes runs/<timestamp>-<name>/results/<name>.json (bio_gnn.core.start_run + write_results) and prints a table.
"""
from __future__ import annotations
import argparse, statistics, sys, time

COUNT = {'bytes': 0, 'calls': 0}


def _counting_hook(state, bucket):
    "DDP communication hook: count the gradient bytes of each bucket, then all-reduce it as DDP does by default."
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
    buf = bucket.buffer()
    COUNT['bytes'] += buf.numel()*buf.element_size()
    COUNT['calls'] += 1
    return allreduce_hook(None, bucket)


def _workload(path: str, a):
    "(model, task, train data, val data, steps per epoch) of one path, the same on every rank (seeded)."
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    from torch_geometric.data import Data
    from torch_geometric.nn import SAGEConv
    from bio_gnn.train import Task, NodeTask
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    if path == 'dataset':       # window/sequence datasets: an MLP on rows through a DataLoader
        X, y = torch.randn(a.rows, a.features, generator=g), torch.randint(0, 10, (a.rows,), generator=g)
        model = nn.Sequential(nn.Linear(a.features, a.hidden), nn.ReLU(), nn.Linear(a.hidden, a.hidden), nn.ReLU(),
                              nn.Linear(a.hidden, 10))
        train = DataLoader(TensorDataset(X, y), batch_size=a.batch, shuffle=True, generator=g)
        val = DataLoader(TensorDataset(X[:a.rows//10], y[:a.rows//10]), batch_size=1024)
        return model, Task(kind='classification'), train, val, -(-a.rows//a.batch)
    n = a.nodes                 # node classification: a 2-layer GraphSAGE, full batch on split masks or sampled
    y = torch.randint(0, 10, (n,), generator=g)
    data = Data(x=torch.randn(n, a.features, generator=g) + y[:, None]*0.1,
                edge_index=torch.randint(0, n, (2, n*a.degree), generator=g), y=y, num_nodes=n)
    perm = torch.randperm(n, generator=g)
    for s, part in (('train', perm[:int(.7*n)]), ('val', perm[int(.7*n):int(.85*n)])):
        data[f'{s}_mask'] = torch.zeros(n, dtype=torch.bool)
        data[f'{s}_mask'][part] = True

    class SAGE(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = SAGEConv(a.features, a.hidden), SAGEConv(a.hidden, 10)
        def forward(self, x, edge_index): return self.c2(self.c1(x, edge_index).relu(), edge_index)
    if path == 'node': return SAGE(), NodeTask(), data, data, 1
    from bio_gnn.sampling import NeighborSubgraphLoader
    sg = torch.Generator().manual_seed(1)
    fan = [a.fanout]*2
    train = NeighborSubgraphLoader(data, fan, data.train_mask, batch_size=a.seed_batch, shuffle=True, generator=sg)
    val = NeighborSubgraphLoader(data, fan, data.val_mask, batch_size=a.seed_batch, generator=sg)
    return SAGE(), NodeTask(), train, val, len(train)


def _fit(path: str, a, distributed: bool, threads: int|None = None) -> dict:
    "Train one path; seconds per epoch and the all-reduce traffic per step."
    import torch
    from bio_gnn.core import count_parameters
    from bio_gnn.train import TrainConfig, Trainer
    torch.set_num_threads(threads or a.threads)
    model, task, train, val, steps = _workload(path, a)
    cfg = TrainConfig(lr=1e-3, epochs=a.epochs, progress=False, wandb_mode='disabled', device=a.device, seed=0,
                      monitor='val_loss')
    tr = Trainer(model, cfg, task)
    if distributed: tr.net.register_comm_hook(None, _counting_hook)
    COUNT.update(bytes=0, calls=0)
    t0 = time.perf_counter()
    h = tr.fit(train, val)
    wall = time.perf_counter() - t0
    n_steps = steps*len(h)
    return {'s_per_epoch': statistics.median(h['time_s'].iloc[1:]) if len(h) > 1 else float(h['time_s'].iloc[0]),
            'wall_s': wall, 'epochs': len(h), 'steps_per_epoch': steps, 'n_parameters': count_parameters(model),
            'grad_bytes_per_step': COUNT['bytes']/n_steps, 'allreduce_calls_per_step': COUNT['calls']/n_steps,
            'final_val_loss': float(h['val_loss'].iloc[-1])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--paths', default='dataset,node,sampled',
                    help='comma list: dataset (DataLoader), node (full graph), sampled (NeighborSubgraphLoader)')
    ap.add_argument('--seed-batch', type=int, default=256, help='global batch of seed nodes of the sampled path')
    ap.add_argument('--fanout', type=int, default=5, help='neighbours sampled per node at each of the 2 hops')
    ap.add_argument('--epochs', type=int, default=8)
    ap.add_argument('--rows', type=int, default=40000, help='rows of the dataset path')
    ap.add_argument('--batch', type=int, default=512, help='global batch of the dataset path')
    ap.add_argument('--nodes', type=int, default=20000, help='nodes of the node path (full batch)')
    ap.add_argument('--degree', type=int, default=10, help='edges per node of the node path')
    ap.add_argument('--features', type=int, default=64)
    ap.add_argument('--hidden', type=int, default=256)
    ap.add_argument('--threads', type=int, default=1, help='torch threads per process')
    ap.add_argument('--plain-threads', type=int, default=0,
                    help='also run the plain path with this many threads (0: not); on a busy machine, oversubscribed')
    ap.add_argument('--backend', default='gloo', help='gloo (CPU) or nccl (one GPU per rank)')
    ap.add_argument('--world-sizes', default='1,2', help='process counts of the distributed path')
    ap.add_argument('--quick', action='store_true', help='a smoke run: small sizes, 3 epochs')
    ap.add_argument('--name', default='distributed_bench')
    a = ap.parse_args(argv)
    if a.quick: a.epochs, a.rows, a.nodes, a.hidden = 3, 4000, 2000, 64
    a.device = 'cpu' if a.backend == 'gloo' else None
    from bio_gnn.core import start_run, write_results
    from bio_gnn.distributed import run_distributed
    start_run(a.name, 'python bench/distributed.py ' + ' '.join(argv if argv is not None else sys.argv[1:]), vars(a))
    rows = []
    for path in a.paths.split(','):
        plain = _fit(path, a, distributed=False)
        rows.append({'path': path, 'way': 'plain', 'world_size': 1, 'threads': a.threads, **plain})
        sizes = [int(x) for x in a.world_sizes.split(',')]
        if a.plain_threads:     # the plain path on more threads (e.g. as many as the largest job's processes)
            t = a.plain_threads
            rows.append({'path': path, 'way': f'plain {t} threads', 'world_size': 1, 'threads': t,
                         **_fit(path, a, distributed=False, threads=t)})
        for w in sizes:
            res = run_distributed(_fit, w, args=(path, a, True), backend=a.backend, threads=a.threads, timeout_s=1800)
            r0 = res[0]
            rows.append({'path': path, 'way': f'distributed x{w}', 'world_size': w, 'threads': a.threads, **r0,
                         's_per_epoch_max_rank': max(r['s_per_epoch'] for r in res)})
        for r in rows:
            if r['path'] == path: r['ratio_to_plain'] = r['s_per_epoch']/plain['s_per_epoch']
    print(f"{'path':8s} {'way':16s} {'s/epoch':>9s} {'x plain':>8s} {'params':>9s} {'grad MB/step':>12s} "
          f"{'calls/step':>10s} {'val_loss':>9s}")
    for r in rows:
        print(f"{r['path']:8s} {r['way']:16s} {r['s_per_epoch']:9.4f} {r['ratio_to_plain']:8.2f} "
              f"{r['n_parameters']:9d} {r['grad_bytes_per_step']/2**20:12.3f} {r['allreduce_calls_per_step']:10.1f} "
              f"{r['final_val_loss']:9.4f}")
    p = write_results(a.name, {'rows': rows}, params=vars(a), device=a.device or 'cuda')
    print(f"wrote {p}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
