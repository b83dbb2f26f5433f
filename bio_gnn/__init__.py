"""bio_gnn: graph and sequence deep learning on biological data, as a literate nbdev repository.

The short public API below is imported lazily: `import bio_gnn` loads none of torch, torch_geometric or
TensorFlow; `bio_gnn.load_dataset` imports `bio_gnn.data` the first time it is used. Everything else lives in
the chapter modules (`bio_gnn.knn`, `bio_gnn.models.celltype`, ...). This file is kept by hand (nbdev only
updates `__version__`); `nbs/90_build.ipynb` checks that every name resolves and that the import stays light.
"""
__version__ = "0.1.0"

_API = {
    'bio_gnn.core': ['get_paths', 'get_device', 'seed_everything', 'load_config', 'write_results', 'read_results',
                     'count_parameters', 'write_h5ad'],
    'bio_gnn.data': ['load_dataset', 'list_datasets', 'validate_adata'],
    'bio_gnn.readers': ['read_h5ad', 'read_10x', 'read_many'],
    'bio_gnn.knn': ['knn_graph', 'knn_query', 'neighbors', 'radius_graph', 'to_pyg'],
    'bio_gnn.losses': ['make_loss'],
    'bio_gnn.evaluate': ['classification_metrics', 'regression_metrics', 'stratified_split'],
    'bio_gnn.compare': ['repeated_splits', 'paired_comparison',
                         'fit_linear_baseline'],
    'bio_gnn.train': ['Trainer', 'TrainConfig'],
    'bio_gnn.pipeline': ['run_pipeline'],
}
_WHERE = {name: mod for mod, names in _API.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    "Import the module that defines `name` on first use (PEP 562)."
    if name not in _WHERE: raise AttributeError(f"module 'bio_gnn' has no attribute {name!r}")
    import importlib
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__(): return sorted(list(globals()) + __all__)
