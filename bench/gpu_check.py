"""GPU check: the steps that need an accelerator, in one short script (at most ~6 minutes on one GPU).

    python bench/gpu_check.py                 # on a GPU machine: every step at its design size
    python bench/gpu_check.py --device cpu --tiny   # the same logic on the CPU at tiny sizes (what the tests run)
    make gpu-check

Steps (each imports only what it needs; a step whose dependency is missing is skipped with the reason, a step that
fails is recorded with its error and the others still run):
  device       the device bio_gnn.core.get_device chooses, its name, memory and the torch build
  amp_steps    one mixed-precision training step of every torch model: fp16 with loss scaling (GradScaler) and bf16
               autocast, checked finite and against an fp32 step (relative loss difference)
  knn          the exact k-NN graph of 1,000,000 x 50-D points on the GPU against the CPU path (time ratio, recall 1.0
               on a row sample)
  celltype     one training epoch of the cell-type paper configuration at 50,000 cells (full batch)
  connectome   one training epoch of the connectome GAT-LSTM at its designed size
  hyperperturb HyperPerturb's training step with TensorFlow on the GPU, when TensorFlow is installed there

On a machine without a GPU (and no --device) it prints that it skipped and exits 0. It writes gpu_check.json with the
device name and every timing into its run folder (runs/<timestamp>-gpu_check/results/, or --out), published like any
run. A GPU machine may carry a different torch build and lack TensorFlow, scanpy or papermill: only bio_gnn's light
modules and torch are needed for most steps.
"""
from __future__ import annotations
import argparse, datetime, json, os, sys, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# sizes: design scale, and the tiny scale the CPU test uses
SIZES = {
    'design': dict(knn_n=1_000_000, knn_d=50, cells=50_000, genes=28_991, worms=2, worm_seconds=300, windows=16,
                   amp_batch=256),
    'tiny': dict(knn_n=3_000, knn_d=8, cells=300, genes=200, worms=1, worm_seconds=60, windows=2, amp_batch=16),
}


class Skip(Exception):
    "A step that cannot run here (missing dependency or device), with the reason."


def _sync(device):
    import torch
    if device.type == 'cuda': torch.cuda.synchronize()


def _peak_gb(device) -> float|None:
    import torch
    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == 'cuda' else None


def step_device(device, size) -> dict:
    "The chosen device and the torch build."
    import torch
    out = {'device': str(device), 'torch': torch.__version__, 'cuda': torch.version.cuda}
    if device.type == 'cuda':
        p = torch.cuda.get_device_properties(device)
        out.update(name=p.name, memory_gb=round(p.total_memory / 2**30, 1), capability=f'{p.major}.{p.minor}',
                   bf16=torch.cuda.is_bf16_supported())
    return out


def _amp_step(model, inputs: tuple, target, loss_fn, device, dtype) -> dict:
    "One optimiser step under autocast(dtype) (fp16: with a GradScaler); loss, time and finiteness."
    import torch
    model = model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    inputs = tuple(x.to(device) if hasattr(x, 'to') else x for x in inputs)
    target = target.to(device)
    _sync(device)
    t0 = time.perf_counter()
    with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
        loss = loss_fn(model(*inputs), target)
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    _sync(device)
    finite = all(torch.isfinite(p).all().item() for p in model.parameters())
    return {'loss': float(loss.detach().float()), 'seconds': round(time.perf_counter() - t0, 4), 'finite': finite}


def _amp_models(size) -> dict:
    "name -> (build(), inputs, target, loss_fn) at a small batch, for every torch model of the project."
    import torch
    import torch.nn.functional as F
    from torch_geometric.utils import erdos_renyi_graph
    g = torch.Generator().manual_seed(0)
    n, d, c = size['amp_batch'], 64, 5
    x, y = torch.randn(n, d, generator=g), torch.randint(0, c, (n,), generator=g)
    ei = erdos_renyi_graph(n, 0.05)
    out = {}
    from bio_gnn.models import celltype
    out['celltype_gat'] = (lambda: celltype.build_celltype_model('quick', d, c), (x, ei), y, F.cross_entropy)
    from torch_geometric.nn.models import GCN, GraphSAGE, GIN, MLP
    out['celltype_gcn'] = (lambda: GCN(d, 64, 2, c), (x, ei), y, F.cross_entropy)
    out['celltype_sage'] = (lambda: GraphSAGE(d, 64, 2, c), (x, ei), y, F.cross_entropy)
    out['celltype_gin'] = (lambda: GIN(d, 64, 2, c), (x, ei), y, F.cross_entropy)
    out['celltype_mlp'] = (lambda: MLP([d, 128, c]), (x,), y, F.cross_entropy)
    from bio_gnn.models import temporal
    xs = torch.randn(n, 10, d, generator=g)
    out['temporal_bilstm'] = (lambda: temporal.BiLSTMClassifier(d, c), (xs,), y, F.cross_entropy)
    out['temporal_transformer'] = (lambda: temporal.build_temporal_model('transformer', d, c), (xs,), y, F.cross_entropy)
    from bio_gnn.models import gvae
    from bio_gnn.losses import zinb_nll, gaussian_kl
    counts = torch.poisson(torch.full((n, d), 2.0), generator=g)
    lib = counts.sum(1, keepdim=True)
    cond = torch.randn(n, 8, generator=g)
    def gvae_loss(o, t):
        f = {k: v.float() for k, v in o.items()}
        return zinb_nll(t, f['mu'], f['theta'], f['pi_logit']) + gaussian_kl(f['mu_q'], f['logvar_q'], f['mu_p'],
                                                                            f['logvar_p'])
    out['gvae'] = (lambda: gvae.SpatialGVAE(d, 8), (torch.log1p(counts), cond, ei, lib), counts, gvae_loss)
    return out

def step_amp_steps(device, size) -> dict:
    "One fp32, fp16 (loss scaling) and bf16 training step of every torch model."
    import torch
    res = {}
    for name, (build, inputs, target, loss_fn) in _amp_models(size).items():
        row = {}
        for label, dtype in (('fp32', torch.float32), ('fp16', torch.float16), ('bf16', torch.bfloat16)):
            if device.type == 'cpu' and dtype == torch.float16: continue   # CPU autocast: bf16 only
            torch.manual_seed(0)
            row[label] = _amp_step(build(), inputs, target, loss_fn, device, dtype)
        ref = row['fp32']['loss']
        for label in ('fp16', 'bf16'):
            if label in row: row[label]['rel_loss_diff_vs_fp32'] = round(abs(row[label]['loss'] - ref) / max(abs(ref), 1e-8), 4)
        res[name] = row
    return res


def step_knn(device, size) -> dict:
    "Exact k-NN graph on the device against the CPU path: seconds, ratio, recall on a row sample."
    import numpy as np
    from bio_gnn.knn import knn_graph
    rng = np.random.default_rng(0)
    X = rng.normal(size=(size['knn_n'], size['knn_d'])).astype(np.float32)
    knn_graph(X[:2000], 15, device=device)                       # warm-up (kernels, CUDA context)
    t0 = time.perf_counter()
    _, I_dev = knn_graph(X, 15, device=device)
    t_dev = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, I_cpu = knn_graph(X, 15, device='cpu')
    t_cpu = time.perf_counter() - t0
    rows = rng.choice(len(X), min(200, len(X)), replace=False)
    d2 = ((X[rows, None, :].astype(np.float64) - X[None].astype(np.float64))**2).sum(-1)
    d2[np.arange(len(rows)), rows] = np.inf
    kth = np.sort(d2, 1)[:, 14]
    got = np.take_along_axis(d2, I_dev[rows], 1)
    recall = float((got <= kth[:, None] * (1 + 1e-6)).mean())
    return {'n': len(X), 'd': X.shape[1], 'seconds_device': round(t_dev, 3), 'seconds_cpu': round(t_cpu, 3),
            'ratio_cpu_over_device': round(t_cpu / t_dev, 2), 'recall': recall,
            'same_as_cpu': bool((I_dev == I_cpu).mean() > 0.999)}


def step_celltype(device, size) -> dict:
    "One full-batch training epoch of the cell-type paper configuration (SparseGATConv) on synthetic sparse counts."
    import torch
    import torch.nn.functional as F
    import numpy as np
    import scipy.sparse as sp
    from bio_gnn.models import celltype
    from bio_gnn.knn import knn_graph
    n, genes = size['cells'], size['genes']
    rng = np.random.default_rng(0)
    X = sp.random(n, genes, density=0.05, format='csr', random_state=0, dtype=np.float32)
    X.data = np.log1p(rng.poisson(2.0, X.nnz).astype(np.float32) + 1)
    y = torch.as_tensor(rng.integers(0, 11, n))
    _, idx = knn_graph(rng.normal(size=(n, 30)).astype(np.float32), 12, device=device)
    ei = torch.stack([torch.as_tensor(idx).reshape(-1), torch.arange(n).repeat_interleave(idx.shape[1])])
    cfg = 'paper' if size is SIZES['design'] else 'quick'
    model = celltype.build_celltype_model(cfg, genes, 11).to(device)
    coo = X.tocoo()          # the library's sparse input: a torch COO tensor, projected by torch.sparse.mm
    xs = torch.sparse_coo_tensor(np.vstack([coo.row, coo.col]), coo.data, coo.shape).coalesce().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    if device.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    _sync(device)
    t0 = time.perf_counter()
    # bf16 autocast (on the CPU too: the sparse input projection and SparseGATConv's aggregation run in fp32 inside)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        loss = F.cross_entropy(model(xs, ei.to(device)).float(), y.to(device))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    _sync(device)
    return {'config': cfg, 'layer': type(model.convs[0]).__name__, 'precision': 'bf16 autocast', 'cells': n,
            'genes': genes, 'edges': int(ei.shape[1]), 'parameters': sum(p.numel() for p in model.parameters()),
            'epoch_seconds': round(time.perf_counter() - t0, 3), 'peak_gb': _peak_gb(device), 'loss': float(loss)}


def step_connectome(device, size) -> dict:
    "Training steps of the connectome GAT-LSTM at its designed size on the real wiring (random activity, per window)."
    import torch
    from bio_gnn.worm import connectome_graph
    from bio_gnn.models import connectome
    graph = connectome_graph('cook2019_herm')
    cfg = connectome.load_connectome_config() if size is SIZES['design'] else connectome.load_connectome_config(
        hidden_dims=(8, 8, 8), heads=(2, 2, 1), lstm_hidden=8, head_hidden=8)
    model = connectome.build_connectome_model('gat_lstm', graph, cfg).to(device)
    n, W, B = graph.num_nodes, 50 if size is SIZES['design'] else 8, size['windows']
    x = torch.randn(B, W, n, device=device)
    y = torch.randn(B, n, device=device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    if device.type == 'cuda': torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(2):     # the first step includes warm-up (kernels, allocator)
        _sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = torch.nn.functional.mse_loss(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {'parameters': sum(p.numel() for p in model.parameters()), 'windows_per_step': B, 'window_length': W,
            'seconds_per_step': round(times[-1], 3), 'seconds_per_window': round(times[-1]/B, 4),
            'peak_gb': _peak_gb(device), 'note': 'random activity on the real wiring; an epoch is windows x this'}


def step_hyperperturb(device, size) -> dict:
    "HyperPerturb's training epochs with TensorFlow (on the GPU when TensorFlow sees one)."
    try:
        import tensorflow as tf
    except ImportError as e: raise Skip(f'TensorFlow is not installed here ({e})')
    from bio_gnn.perturb_data import prepare_synthetic_screen, split_genes
    from bio_gnn.models.hyperperturb import build_perturbation_model, compile_perturbation_model
    from bio_gnn.models.hyperperturb_experiment import PerturbationEnv, train_perturbation_model
    tiny = size is SIZES['tiny']
    adata = prepare_synthetic_screen(n_cells=300 if tiny else 3000, n_genes=60 if tiny else 200,
                                     n_perturbations=4 if tiny else 12, seed=0)
    masks = split_genes(adata, 0.2, 0.1, seed=0)
    env = PerturbationEnv(adata.varm['gene_features'], adata.varm['perturbation_reward'], masks['train'])
    model = compile_perturbation_model(build_perturbation_model('hyperperturb', adata), epochs=5)
    t0 = time.perf_counter()
    train_perturbation_model(model, env, epochs=5, val_mask=masks['val'])
    return {'tf_gpus': [g.name for g in tf.config.list_physical_devices('GPU')], 'genes': adata.n_vars,
            'seconds_per_epoch': round((time.perf_counter() - t0)/5, 3)}


STEPS = {'device': step_device, 'amp_steps': step_amp_steps, 'knn': step_knn, 'celltype': step_celltype,
         'connectome': step_connectome, 'hyperperturb': step_hyperperturb}


def run_step(name, fn, device, size, deadline) -> dict:
    "Run one step: ok with its numbers, skipped (missing dependency, over time) or failed (the error)."
    if time.time() > deadline: return {'status': 'skipped', 'reason': 'time budget used up'}
    t0 = time.time()
    try:
        out = {'status': 'ok', **fn(device, size)}
    except Skip as e: out = {'status': 'skipped', 'reason': str(e)}
    except ImportError as e: out = {'status': 'skipped', 'reason': f'missing dependency: {e}'}
    except Exception as e:   # a failed step is recorded and the next one runs
        out = {'status': 'failed', 'error': f'{type(e).__name__}: {e}', 'traceback': traceback.format_exc()[-2000:]}
    out['wall_s'] = round(time.time() - t0, 2)
    print(f"{name:12s} {out['status']:8s} {out['wall_s']:8.1f} s  {out.get('reason') or out.get('error') or ''}", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--device', default=None, help="torch device (default: CUDA if present, else skip everything)")
    ap.add_argument('--tiny', action='store_true', help='tiny sizes (the CPU test)')
    ap.add_argument('--steps', nargs='+', default=list(STEPS), choices=list(STEPS))
    ap.add_argument('--budget-s', type=float, default=360, help='stop starting new steps after this many seconds')
    ap.add_argument('--out', default=None, help='run folder (default runs/<timestamp>-gpu_check)')
    a = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print('gpu_check: torch is not installed here; skipped.')
        return 0
    if a.device is None and not torch.cuda.is_available():
        print('gpu_check: no GPU on this machine; skipped (run with --device cpu --tiny to exercise the logic).')
        return 0
    device = torch.device(a.device or 'cuda')
    size = SIZES['tiny' if a.tiny else 'design']
    command = 'python bench/gpu_check.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    try:
        from bio_gnn.core import start_run
        run_dir = start_run('gpu_check', command.strip(), {'size': 'tiny' if a.tiny else 'design'}, a.out)
    except ImportError:     # a GPU machine without bio_gnn's dependencies: a plain folder
        run_dir = Path(a.out or ROOT/'runs'/f"{datetime.datetime.now():%Y%m%d-%H%M%S}-gpu_check")
        run_dir.mkdir(parents=True, exist_ok=True)
        os.environ['BIO_GNN_OUTPUT_DIR'] = str(run_dir)
    deadline = time.time() + a.budget_s
    steps = {name: run_step(name, STEPS[name], device, size, deadline) for name in a.steps}
    record = {'device': str(device), 'size': 'tiny' if a.tiny else 'design', 'steps': steps}
    try:
        from bio_gnn.core import write_results
        path = write_results('gpu_check', record, params={'size': size, 'steps': a.steps}, device=device)
    except ImportError:
        path = run_dir/'results'/'gpu_check.json'
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2, default=str))
    print(f"wrote {path}")
    return 0 if all(s['status'] != 'failed' for s in steps.values()) else 1


if __name__ == '__main__': sys.exit(main())
