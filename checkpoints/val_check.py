"""Mid-run look at a connectome fit kept in checkpoints/: its best weights so far (best.pt) against the fitted
baselines (persistence, the per-neuron linear AR, the connectome-masked VAR), scored on the seed's VALIDATION worms
only (the test worms are never touched: they are scored once, by the chapter, when every fit has stopped).

It rebuilds what chapter 12b builds for the long run (`bash checkpoints/resume.sh connectome`): the same simulated
worms, causal windows, split of the seed's worms and model sizes, so the numbers are the chapter's validation
next-step scores (one target per window, windows every `stride` steps), not the per-step training loss of
history.csv. One thread; 475-585 s here beside the two long jobs (its memory was not measured).

    python checkpoints/val_check.py                          # gat_lstm, seed 0, checkpoints/connectome-design20
    python checkpoints/val_check.py --models gat_lstm,lstm   # several fits of the same seed
    python checkpoints/val_check.py --json out.json          # the table as JSON too (atomic write)
    python checkpoints/val_check.py --ablations --models gat_lstm,shuffled   # the reduced-size ablations' fits

Only seed 0 is supported as-is: later seeds' splits may be redrawn by the chapter (`distinct_worm_splits`), and a
look at them should take the split from the chapter's run folder.
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# the long run's parameters: nbs/params/paper.yaml's connectome entry with resume.sh's overrides, and the chapter's
# defaults for the rest (nbs/12b_connectome_experiment.ipynb, parameters cell)
RUN = dict(connectome='cook2019_herm', n_worms=20, duration_s=(300.0, 600.0), rate_hz=2.0,
           recorded_fraction=(0.4, 0.7), window=50, stride=10, warmup_s=10.0, var_lags=3,
           hidden_dims=(64, 128, 256), heads=(4, 4, 2), lstm_hidden=256, lstm_layers=2, lstm_dropout=0.2,
           head_hidden=128, edge_dropout=0.1, batch_size=16, lr=1e-3, weight_decay=1e-4, epochs=100, patience=10)
# resume.sh ablations: the same run at a quarter of the designed widths, checkpointed in connectome-ablations20/
ABLATIONS = dict(hidden_dims=(16, 32, 64), lstm_hidden=64, head_hidden=32)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--ckdir', default=None, help="the run's checkpoint_dir (default: the design-size run's, or "
                    "with --ablations the ablations run's)")
    ap.add_argument('--ablations', action='store_true', help="the reduced-size ablations run's widths")
    ap.add_argument('--models', default='gat_lstm', help='comma-separated fits of the seed (model names)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--json', default=None, help='also write the table here (JSON)')
    a = ap.parse_args(argv)
    if a.seed != 0: ap.error("only seed 0's split is split_worms' own (see the docstring)")
    a.ckdir = a.ckdir or ('checkpoints/connectome-ablations20' if a.ablations else 'checkpoints/connectome-design20')
    missing = [str(ROOT / a.ckdir / f'{m}_seed{a.seed}' / 'best.pt') for m in a.models.split(',')]
    missing = [m for m in missing if not Path(m).is_file()]
    if missing: ap.error(f"no best weights yet at {', '.join(missing)} (a fit writes best.pt after its first epoch)")
    import numpy as np, pandas as pd, torch
    torch.set_num_threads(1)
    from bio_gnn.core import atomic_write
    from bio_gnn.worm import load_connectome, connectome_graph
    from bio_gnn.worm_sim import simulate_activity
    from bio_gnn.models.connectome import (LinearAR, build_connectome_model, load_connectome_config,
                                           persistence_predict, predict_next_step, split_worms)
    from bio_gnn.models.connectome_readouts import prediction_metrics
    from bio_gnn.models.connectome import window_loader
    from bio_gnn.models.connectome_training import ConnectomeVAR, SequenceTask, make_causal_windows, restride
    from bio_gnn.train import Trainer, TrainConfig, load_checkpoint
    r, t0 = {**RUN, **(ABLATIONS if a.ablations else {})}, time.perf_counter()
    graph = connectome_graph(load_connectome(r['connectome']))
    sim = simulate_activity(graph, n_worms=r['n_worms'], duration_s=r['duration_s'], rate_hz=r['rate_hz'],
                            recorded_fraction=r['recorded_fraction'], seed=0)   # the chapter's `seed` (not the split's)
    keys = ('window', 'stride', 'hidden_dims', 'heads', 'lstm_hidden', 'lstm_layers', 'lstm_dropout', 'head_hidden',
            'edge_dropout', 'batch_size', 'lr', 'weight_decay', 'epochs', 'patience')
    cfg = load_connectome_config(**{k: r[k] for k in keys})
    wins = make_causal_windows(sim, window=cfg.window, stride=cfg.stride, warmup_s=r['warmup_s'], rate_hz=r['rate_hz'])
    sp = split_worms(list(sim.obs['worm'].cat.categories), seed=a.seed)
    trw, vaw = wins.subset(sp['train']), wins.subset(sp['val'])
    preds = {'persistence': persistence_predict(vaw), 'linear_ar': LinearAR().fit(trw).predict(vaw),
             'connectome_var': ConnectomeVAR(graph, lags=r['var_lags']).fit(trw, vaw).predict(vaw)}
    epochs, checked = {}, {}
    for name in a.models.split(','):
        ckdir = ROOT / a.ckdir / f'{name}_seed{a.seed}'
        best = load_checkpoint(ckdir / 'best.pt', map_location='cpu')
        model = build_connectome_model(name, graph, cfg, seed=a.seed)
        model.load_state_dict(best['model'])          # strict: the sizes above are the run's
        preds[name], epochs[name] = predict_next_step(model, vaw), int(best['epoch'])
        # the check that this is the run's data and split: the per-step validation loss that early stopping saw
        logged = {int(h['epoch']): h['val_loss'] for h in load_checkpoint(ckdir / 'last.pt')['history']}[epochs[name]]
        again = Trainer(model, TrainConfig(device='cpu', progress=False), SequenceTask()).evaluate(
            window_loader(restride(vaw, cfg.window), cfg.batch_size))['loss']
        print(f"{name}: validation loss of epoch {epochs[name]} {again:.6f} (history: {logged:.6f})")
        if not np.isclose(again, logged, rtol=1e-4):
            raise SystemExit(f"{name}: the validation loss recomputed here ({again:.6f}) is not the run's "
                             f"({logged:.6f}) at epoch {epochs[name]}: RUN above differs from the long run's "
                             "parameters; fix RUN.")
        checked[name] = {'val_loss_recomputed': again, 'val_loss_history': logged}
    keep = ('mse', 'r2', 'skill_vs_persistence', 'n')
    rows = [{'model': n, 'best_epoch': epochs.get(n),
             **{k: v for k, v in prediction_metrics(p, vaw)['aggregate'].items() if k in keep}}
            for n, p in preds.items()]
    table = pd.DataFrame(rows).set_index('model')
    print(f"validation worms {sp['val']} of seed {a.seed} ({len(vaw)} windows, stride {cfg.stride}); "
          f"{time.perf_counter() - t0:.0f} s\n{table.round(5).to_string()}")
    if a.json:
        out = {'what': 'validation next-step scores mid-run (checkpoints/val_check.py)', 'seed': a.seed,
               'val_worms': sp['val'], 'n_windows': len(vaw), 'run': r, 'ckdir': a.ckdir,
               'consistency': checked, 'rows': table.reset_index().to_dict('records')}
        with atomic_write(Path(a.json)) as f: json.dump(out, f, indent=1, default=float)
    return table


if __name__ == '__main__':
    main()
