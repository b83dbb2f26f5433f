"bio_gnn's models: one module per system, each exported from its notebook in nbs/ (10_celltype_gnn ... 15b_hyperperturb_experiment)."
