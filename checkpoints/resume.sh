#!/usr/bin/env bash
# Resume the long CPU runs kept in checkpoints/ (see README.md here): the design-size connectome fits and the
# 50,000-cell cell-type protocol, one thread each, in the background, with jemalloc when it is installed.
#   bash checkpoints/resume.sh                # both jobs
#   bash checkpoints/resume.sh connectome     # one of them (connectome | celltype | ablations)
#   SEEDS="[1]" bash checkpoints/resume.sh connectome   # the connectome seeds to train (default [0])
#   bash checkpoints/resume.sh ablations      # the connectome's ablations at a quarter of the designed widths
#                                             # (GAT 16/32/64, LSTM 64, head 32; 74,543 parameters), seeds [0,1,2]
# Logs: runs/<stamp>-<job>.log; run folders: runs/<stamp>-<job>/. Progress: python checkpoints/progress.py
set -euo pipefail
cd "$(dirname "$0")/.."
BIO_GNN=${BIO_GNN:-.venv/bin/bio_gnn}
[ -x "$BIO_GNN" ] || { echo "resume.sh: $BIO_GNN not found; run 'make install' first (or set BIO_GNN)" >&2; exit 1; }
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 WANDB_MODE=${WANDB_MODE:-offline} TF_CPP_MIN_LOG_LEVEL=3
for lib in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 \
           /usr/lib64/libjemalloc.so.2; do
  if [ -e "$lib" ]; then
    export LD_PRELOAD=$lib MALLOC_CONF=oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1
    break
  fi
done
[ -n "${LD_PRELOAD:-}" ] || echo "resume.sh: jemalloc not installed (apt install libjemalloc2): glibc's defaults," \
  "about 1.4x slower per connectome step (bench/cpu_malloc.py)" >&2
stamp=$(date +%Y%m%d-%H%M%S)
mkdir -p runs
jobs=("$@"); [ ${#jobs[@]} -gt 0 ] || jobs=(connectome celltype)
for job in "${jobs[@]}"; do
  case $job in
    connectome) args=(--only connectome --param connectome.n_worms=20 --param "connectome.seeds=${SEEDS:-[0]}"
                      --param 'connectome.models=[gat_lstm,lstm,shuffled]' --param connectome.max_test_windows=64
                      --param connectome.held_out_neurons=16
                      --param connectome.checkpoint_dir=checkpoints/connectome-design20) ;;
    ablations) args=(--only connectome --param connectome.n_worms=20 --param "connectome.seeds=${SEEDS:-[0,1,2]}"
                     --param 'connectome.models=[gat_lstm,gcn_lstm,no_edge_attr,no_distance,no_attention,shuffled]'
                     --param 'connectome.hidden_dims=[16,32,64]' --param connectome.lstm_hidden=64
                     --param connectome.head_hidden=32 --param connectome.tag=ablations
                     --param connectome.max_test_windows=64 --param connectome.held_out_neurons=16
                     --param connectome.checkpoint_dir=checkpoints/connectome-ablations20) ;;
    celltype) args=(--only celltype --param celltype.run_comparison=false --param celltype.run_interpret=false
                    --param celltype.run_ablations=false --param celltype.run_cardiac=false
                    --param celltype.run_scaling=false) ;;
    *) echo "resume.sh: unknown job '$job' (connectome | ablations | celltype)" >&2; exit 2 ;;
  esac
  mark=$job; [ "$job" = celltype ] || mark=${args[-1]}   # the connectome jobs differ by their checkpoint folder
  if pgrep -f -- "bio_gnn run .*--only ${args[1]} .*$mark" > /dev/null; then
    echo "resume.sh: a '$job' run is already going (pgrep -af 'bio_gnn run'); not starting a second" >&2; continue
  fi
  nohup "$BIO_GNN" run --profile paper --out "runs/$stamp-$job" "${args[@]}" > "runs/$stamp-$job.log" 2>&1 &
  echo "started $job: pid $!, log runs/$stamp-$job.log"
done
