"""Where the long runs kept in checkpoints/ stand: each connectome fit's epochs (the design size and the reduced-size
ablations), best validation loss and epoch time (from its history.csv), and each cell-type protocol folder's finished
fits (their budget records) and the unfinished one. Reads files only; starts nothing.

    python checkpoints/progress.py
"""
from __future__ import annotations
import json, sys
from pathlib import Path
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def _stopping(last: Path) -> dict:
    "Early stopping's state and limits from a fit's last.pt (torch, read on the CPU; {} where there is none)."
    if not last.is_file():
        return {}
    import torch
    ck = torch.load(last, map_location='cpu', weights_only=True)
    return {**ck['early_stopping'], 'patience': ck['config']['patience'], 'cap': ck['config']['epochs'],
            'history': ck['history']}


def connectome(root: Path) -> pd.DataFrame:
    """One row per (model, seed) fit: epochs run, the best epoch (early stopping's, which counts any decrease) and
    its validation loss and R², epochs since the best, the earliest epoch it can stop at (best + patience, or the cap;
    every new best moves it), median epoch time."""
    rows = []
    for h in sorted(root.glob('*/history.csv')):
        es = _stopping(h.parent / 'last.pt')   # its history: history.csv is written after it, so may lag an epoch
        d = pd.DataFrame(es.pop('history')) if es else pd.read_csv(h)
        if d.empty:
            continue
        best = es.get('best_epoch') or int(d.loc[d['val_loss'].idxmin(), 'epoch'])
        b = d.loc[d['epoch'] == best].iloc[0]
        rows.append({'fit': h.parent.name, 'epochs': int(d['epoch'].max()), 'best_epoch': int(best),
                     'best_val_loss': b['val_loss'], 'val_r2_at_best': b['val_r2'],
                     'since_best': int(d['epoch'].max() - best),
                     'stops_at_earliest': min(best + es['patience'], es['cap']) if es else None,
                     'median_epoch_s': d['time_s'].median()})
    return pd.DataFrame(rows)


def celltype(root: Path) -> pd.DataFrame:
    "One row per fit of every protocol folder: finished (its record) or in progress (its epochs so far)."
    rows = []
    for f in sorted(root.glob('*/*.npz')):
        with np.load(f) as z:
            r = json.loads(str(z['record']))
        r = {**r.get('budget', {}), **r}   # the linear models' records keep their budget apart
        chosen = [t for t in r.get('tuning', []) if all(t.get(k, 'none') == (v or 'none')
                                                        for k, v in r.get('conf', {}).items())]
        if chosen:   # a linear model's grid is one fit: the chosen configuration's validation score from its tuning
            r.setdefault('val_macro_f1', chosen[0].get('val_macro_f1'))
        conf = ' '.join(f'{k}={v}' for k, v in r.get('conf', {}).items())
        rows.append({'folder': f.parent.name, 'fit': f.stem, 'state': 'done', 'epochs': r.get('epochs_run'),
                     'best_epoch': r.get('best_epoch'), 'val_macro_f1': r.get('val_macro_f1'),
                     'fit_time_s': r.get('fit_time_s'), 'conf': conf})
    for c in sorted(root.glob('*/*.ckpt')):
        h = c / 'history.csv'
        n = int(pd.read_csv(h)['epoch'].max()) if h.exists() and h.stat().st_size > 60 else 0
        rows.append({'folder': c.parent.name, 'fit': c.stem, 'state': 'in progress', 'epochs': n})
    return pd.DataFrame(rows)


def main() -> int:
    pd.set_option('display.width', 160); pd.set_option('display.max_rows', 500)
    for name, fn in (('connectome-design20', connectome), ('connectome-ablations20', connectome),
                     ('celltype-protocol', celltype)):
        root = HERE / name
        df = fn(root) if root.exists() else pd.DataFrame()
        print(f'== {name}: ' + ('nothing yet' if df.empty else f'{len(df)} fit(s)'))
        if not df.empty:
            print(df.to_string(index=False, float_format=lambda v: f'{v:.4f}'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
