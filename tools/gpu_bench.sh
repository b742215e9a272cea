#!/usr/bin/env bash
# Issue 14 item 4 in one run on a GPU machine, in under 10 minutes:
#   1. tools/bench_train.py: i3d_r50 vs a2net_r50 vs nl_r50 at 8x224², batch 16, bf16 and fp16,
#      eager and torch.compile'd (the A² target: <= 15 % of i3d_r50's throughput);
#   2. tools/bench_attention.py --device cuda (every block, time and peak memory);
#   3. tools/bench_loader.py --workers $(nproc) (the training loader with every core).
# Each part has a time budget; a part that runs out is stopped and the script goes on, so the
# results always come back: OUT_DIR/gpu_bench.md (summary), gpu_bench.log (everything printed),
# train.json, attention.json.
#
#   tools/gpu_bench.sh OUT_DIR                      # on the GPU machine (with the device tool: "$OUT")
#   A2VIDEO_BENCH_SMOKE=1 tools/gpu_bench.sh DIR    # every part at toy sizes on a CPU, ~1 minute
#                                                   # (tests/test_gpu_bench.py runs this)
#
# The device tool's H200 image has PyTorch but neither decord nor PyAV, which part 3 needs. Carry
# them as wheels (once, here, from the repository root; see /work/.library/device/README.md):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
#       -d .whl decord==0.6.0 av==18.1.0
# and name .whl in the run's carry: this script installs .whl/*.whl into /tmp/site when it finds them.
# Without them part 3 is skipped and gpu_bench.md says so.
set -uo pipefail

out=${1:?usage: tools/gpu_bench.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
smoke=${A2VIDEO_BENCH_SMOKE:-0}
summary="$out/gpu_bench.md"
log="$out/gpu_bench.log"
started=$(date +%s)
: >"$log"

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    >>"$log" 2>&1 && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

say() { echo "$@" | tee -a "$summary"; }

# part NAME BUDGET_S COMMAND...: run with a time limit, output to the log, status to the summary.
part() {
  local name=$1 budget=$2
  shift 2
  local begin=$(date +%s)
  echo "=== $name: $* (budget ${budget} s)" >>"$log"
  timeout --kill-after=10 "$budget" "$@" >>"$log" 2>&1
  local status=$?
  local took=$(($(date +%s) - begin))
  case $status in
    0) say "- $name: done in ${took} s" ;;
    124 | 137) say "- $name: STOPPED at its ${budget} s budget (partial results in gpu_bench.log)" ;;
    *) say "- $name: FAILED with exit status $status after ${took} s (see gpu_bench.log)" ;;
  esac
  return 0
}

if [ "$smoke" = 1 ]; then
  device=cpu
  train_args=(--device cpu --models i3d_r26 a2net_r26 --base-width 4 --size 32 --frames 4 --batch 2
              --precision 32 --modes eager compiled --compile-backend eager --steps 1 --warmup 0 --repeats 1)
  attention_args=(--device cpu --parts a b --depths 4 --blocks a2_left --repeats 1 --warmup 0)
  videos=1
  loader_args=(--workers 1 --batch-size 1 --batches 1 --warmup 1 --repeats 1)
  budgets=(240 120 120)
else
  device=cuda
  train_args=(--precision bf16 fp16 --modes eager compiled --budget-s 200)
  attention_args=(--device cuda --mem-cap-gib 40)
  videos=32
  loader_args=(--workers "$(nproc)" --repeats 3 --batches 30)
  budgets=(300 120 110)
fi

{
  echo "# gpu_bench $(date -u +%Y-%m-%dT%H:%M:%SZ)$([ "$smoke" = 1 ] && echo ' (smoke run, toy sizes, CPU)')"
  echo
  echo '```'
  nvidia-smi -L 2>/dev/null || echo "nvidia-smi: none"
  "$PY" -c "import torch; print('torch', torch.__version__, '| cuda', torch.cuda.is_available(),
    torch.cuda.get_device_name(0) if torch.cuda.is_available() else '', '|', __import__('os').cpu_count(), 'CPUs')"
  echo '```'
  echo
} >>"$summary" 2>&1
cat "$summary"
if [ "$device" = cuda ] && ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  say "no CUDA device: nothing measured (use A2VIDEO_BENCH_SMOKE=1 on a CPU)"
  exit 1
fi

part "1. bench_train" "${budgets[0]}" "$PY" tools/bench_train.py "${train_args[@]}" --json "$out/train.json"
part "2. bench_attention" "${budgets[1]}" "$PY" tools/bench_attention.py "${attention_args[@]}" --json "$out/attention.json"

if "$PY" -c "import decord, av" 2>>"$log"; then
  # The benchmark videos are written in parallel here (bench_loader.py writes them one by one).
  video_dir=$(mktemp -d)
  "$PY" - "$video_dir" "$videos" >>"$log" 2>&1 <<'EOF'
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, "tools")
import bench_loader
from a2video.data.encoding import write_video


def write(number: int) -> None:  # the file bench_loader.prepare_videos would write, then finds
    frames = bench_loader.render_video(number)
    write_video(Path(sys.argv[1]) / f"bench_{number:03d}.mp4", frames, fps=bench_loader.FPS,
                gop_size=bench_loader.KEY_FRAME_EVERY)


with ProcessPoolExecutor() as pool:
    list(pool.map(write, range(int(sys.argv[2]))))
EOF
  loaders=()
  if "$PY" tools/bench_loader.py --help 2>/dev/null | grep -q -- --loaders; then
    loaders=(--loaders a2video)
    if [ "$smoke" != 1 ]; then
      loaders+=(a2video+cpu-normalise)
      "$PY" -c "import pytorchvideo" 2>/dev/null && loaders+=(pytorchvideo)
    fi
  elif ! "$PY" -c "import pytorchvideo" 2>/dev/null; then
    loaders=(skip)
  fi
  if [ "${loaders[0]:-}" = skip ]; then
    say "- 3. bench_loader: SKIPPED (this bench_loader.py needs pytorchvideo, which is not installed)"
  else
    part "3. bench_loader" "${budgets[2]}" "$PY" tools/bench_loader.py --videos "$videos" "${loader_args[@]}" \
      --video-dir "$video_dir" "${loaders[@]}"
  fi
  rm -rf "$video_dir"
else
  say "- 3. bench_loader: SKIPPED (decord or PyAV missing: carry their wheels in .whl, see this script's header)"
fi

{
  echo
  echo "## 1. Training throughput"
  echo
  if [ -f "$out/train.json" ]; then "$PY" tools/bench_train.py --report "$out/train.json"; else echo "no results"; fi
  echo
  echo "## 2. Attention blocks (tables as printed)"
  echo
  sed -n '/^=== 2\. bench_attention/,/^=== 3\./p' "$log" | grep -E '^(#|\||[A-Za-z(])' | grep -v '^===' || true
  echo
  echo "## 3. Loader"
  echo
  sed -n '/^=== 3\. bench_loader/,$p' "$log" | grep -E '^(\||workers=|ratio|[0-9]+ videos)' || echo "no results"
  echo
  echo "total $(($(date +%s) - started)) s"
} >>"$summary" 2>&1
tail -n +1 "$summary" | sed -n '/^## 1/,$p'
