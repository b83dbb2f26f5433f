"""Benchmark: PyG's GraphSAGE and GIN cell-type baselines, aggregating over PyG's edge list or over a CSR adjacency.

`bio_gnn.models.celltype.make_torch_model` builds the baselines with `csr_aggregation` (a forward pre-hook that
hands PyG's layers a CSR adjacency on the CPU, so that they aggregate by one sparse-dense product instead of
gathering a message per edge). This script times one full-batch forward + backward of each model both ways, side
by side in one process on the same weights, inputs and graph, alternating, as the median of --repeats after a
warm-up, and checks that the outputs agree. The graph is the symmetrised exact k-NN graph of random 50-D points
(unique edges, as `build_cell_graph` makes them); the features are dense, --genes wide, as the protocol's HVGs.

    python bench/celltype_baselines.py                       # 20,000 cells x 2,000 genes, 2 threads
    python bench/celltype_baselines.py --cells 5000 --repeats 1   # a smoke run

Writes runs/<timestamp>-<name>/results/<name>.json (bio_gnn.core.start_run + write_results) and prints the times
and the ratios edge list / CSR (> 1: the CSR path is faster).
"""
from __future__ import annotations
import argparse, statistics, sys, time
from pathlib import Path


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--cells', type=int, default=20000)
    p.add_argument('--genes', type=int, default=2000, help='input features (dense)')
    p.add_argument('--k', type=int, default=12, help='neighbours of the k-NN graph (symmetrised)')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--name', default='celltype_baselines_bench')
    p.add_argument('--no-write', action='store_true')
    args = p.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import torch
    from torch_geometric.utils import to_undirected
    from bio_gnn.core import start_run, write_results
    from bio_gnn.knn import knn_graph
    from bio_gnn.models.celltype import make_torch_model
    torch.set_num_threads(args.threads)
    if not args.no_write:
        start_run(args.name, 'python bench/celltype_baselines.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
                  vars(args))
    g = torch.Generator().manual_seed(args.seed)
    pts = torch.randn(args.cells, 50, generator=g)
    _, nbr = knn_graph(pts.numpy(), k=args.k)                               # [n, k] neighbour indices
    src = torch.as_tensor(nbr).reshape(-1)
    dst = torch.arange(args.cells).repeat_interleave(args.k)
    ei = to_undirected(torch.stack([src, dst]), num_nodes=args.cells)    # symmetrised, coalesced
    x = torch.randn(args.cells, args.genes, generator=g)
    print(f"{args.cells:,} cells x {args.genes:,} features, {ei.size(1):,} edges, {args.threads} threads", flush=True)

    def step(model):
        model.zero_grad()
        t0 = time.perf_counter()
        out = model(x, ei)
        out.square().mean().backward()
        return time.perf_counter() - t0, out.detach()

    rows = []
    for name in ('sage', 'gin'):
        torch.manual_seed(args.seed)
        csr = make_torch_model(name, args.genes, 11).train(False)          # with csr_aggregation
        edge = make_torch_model(name, args.genes, 11).train(False)
        edge._forward_pre_hooks.clear()                                      # PyG's edge-list path
        edge.load_state_dict(csr.state_dict())
        _, o_e = step(edge)
        _, o_c = step(csr)                                                   # warm-up, and the equality check
        times = {'edge_list': [], 'csr': []}
        for _ in range(args.repeats):
            times['edge_list'].append(step(edge)[0])
            times['csr'].append(step(csr)[0])
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append({'model': name, 'edge_list_s': med['edge_list'], 'csr_s': med['csr'],
                     'ratio_edge_list_over_csr': med['edge_list'] / med['csr'],
                     'max_abs_output_diff': float((o_e - o_c).abs().max()), 'output_scale': float(o_e.abs().max()),
                     'n_cells': args.cells, 'n_features': args.genes, 'n_edges': int(ei.size(1)),
                     'repeats': args.repeats, 'threads': args.threads})
        r = rows[-1]
        print(f"  {name:>5s}: forward+backward edge list {r['edge_list_s']:.2f} s, CSR {r['csr_s']:.2f} s, "
              f"ratio {r['ratio_edge_list_over_csr']:.2f}x; max |output difference| {r['max_abs_output_diff']:.1e} "
              f"(outputs up to {r['output_scale']:.2f})", flush=True)
    out = {'rows': rows}
    if not args.no_write:
        path = write_results(args.name, out, params=vars(args), dataset='random k-NN graph', seeds=[args.seed],
                             device='cpu')
        print(f'wrote {path}')
    return out


if __name__ == '__main__':
    main()
