#!/usr/bin/env bash
# One call on a rented GPU machine (the device tool; docs/benchmarks.md "GPU", docs/model.md):
#   1. the CUDA tests that skip in CI;
#   2. the GPU figures: frame rate of the frame step (bench frames), the memory against RGB
#      conditioning (bench memory), gRPC against in-process (bench serve);
#   3. training of the reference model's candidates for the time that is left (issue 14):
#      A: 12-channel autoencoder from scratch + generator from scratch;
#      B: the same with 16 latent channels;
#      C: the bundled checkpoint's decoder refined on half readouts, half encodings (encoder
#         and latent space kept);
#      D: the bundled checkpoint's generator continued with the inference write policy and an
#         edge term (the same latent space, so C's decoder and D's generator combine).
# Everything lands in $OUT (at most 8 files come back): log.txt, env.txt, bench.tar, and one
# <candidate>.tar per trained checkpoint (A-D). Each phase has a time cap, so one failure never
# costs the phases after it. Run from the repository root:
#   OUT=/tmp/out BUDGET=560 bash tools/gpu/session.sh
# Wheels of the packages the machine lacks or has too old (its Python is 3.12; the generated
# gRPC code needs protobuf >= 7.35.1 and grpcio >= 1.85.1) travel in .whl, ignored by git
# (`echo /.whl/ >> .git/info/exclude`), fetched here first with:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
#     --platform manylinux_2_28_x86_64 -d .whl grpcio==1.85.3 grpcio-health-checking==1.85.1 \
#     grpcio-reflection==1.85.1 protobuf==7.36.2 typer==0.29.2 click==8.5.1 rich==15.0.0 \
#     pytorch-msssim==1.0.0 simplejpeg==1.9.0 shellingham==1.5.4
set -u
OUT=${OUT:-/tmp/gpu-out}
BUDGET=${BUDGET:-560}        # seconds for the whole script
CLIPS=${CLIPS:-1024}         # training clips (one procedural world each)
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
T0=$(date +%s)
left() { echo $(( T0 + BUDGET - $(date +%s) )); }
say() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
export PYTHONUNBUFFERED=1

# -- the package: wheels, and `latentstage` as a namespace package from this checkout ---------
if [ -z "${SKIP_WHEELS:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || say "wheel install failed"
  export PYTHONPATH=/tmp/site
fi
PKG=/tmp/lspkg/latentstage
mkdir -p "$PKG"
for d in runtime model export engine_bridge bench previs; do ln -sfn "$PWD/$d" "$PKG/$d"; done
ln -sfn "$PWD/proto/latentstage/v1" "$PKG/v1"
export PYTHONPATH=/tmp/lspkg:$PWD/tests${PYTHONPATH:+:$PYTHONPATH}
LS="python3 -m latentstage.runtime.cli"
{
  nvidia-smi; python3 -c "import sys, torch; print(sys.version); print('torch', torch.__version__,
'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name(0))"
  python3 -m pip list 2>/dev/null | grep -i -E "^(torch|triton|onnxruntime|grpcio|protobuf|numpy) "
  nproc; free -g
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# -- 1. training clips render on the CPU cores while the CUDA tests run -----------------------
RUN=/tmp/run
mkdir -p "$OUT/bench"; for c in A B C D; do mkdir -p "$RUN/$c/train_state"; done
CACHE=clips_${CLIPS}x12_128x128.pt
WORKERS=$(( $(nproc --all) > 3 ? $(nproc --all) - 2 : 1 ))
say "rendering $CLIPS clips on $WORKERS processes (background)"
python3 - "$CLIPS" "$RUN/A/train_state/$CACHE" "$WORKERS" > "$OUT/bench/render.txt" 2>&1 <<'EOF' &
import sys, time, torch
from latentstage.model.data import build_clips
n, path, workers = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
t = time.perf_counter()
clips = build_clips(list(range(n)), 12, (128, 128), workers=workers)
torch.save(clips, path)
print(f"rendered {len(clips)} clips in {time.perf_counter() - t:.1f} s with {workers} processes")
EOF
RENDER=$!
say "CUDA tests"
timeout 100 python3 -m pytest -q -p no:cacheprovider --timeout 120 \
  tests/runtime/test_cuda.py tests/runtime/test_backends.py tests/runtime/test_pipeline.py \
  -k "cuda or graphs or device_paths or tensorrt" -rA 2>&1 | tail -40 | tee "$OUT/bench/cuda_tests.txt"
wait $RENDER; cat "$OUT/bench/render.txt"
ln -f "$RUN/A/train_state/$CACHE" "$RUN/B/train_state/$CACHE"
for c in C D; do ln -f "$RUN/A/train_state/$CACHE" "$RUN/$c/train_state/$CACHE"; done

# -- 2. GPU figures (alone on the machine: nothing else runs while they are taken) ------------
say "bench frames"
timeout 165 $LS bench frames --device "$DEVICE" --models bundled,large \
  --sizes 1920x1080,1280x720,512x512 --backends eager,compile+graphs --warmup 8 --frames 60 \
  --long 20000 --long-size 512x512 --long-s 30 --budget-s 135 --json "$OUT/bench/frames.json" \
  --profile "$OUT/bench/frames_profile.txt" --profile-config bundled:1920x1080:eager 2>&1 | tail -70
say "bench memory"
timeout 30 $LS bench memory --device "$DEVICE" --sizes 512,720 2>&1 | tail -30
say "bench serve"
timeout 40 $LS bench serve --device "$DEVICE" --size 1280x720 --frames 30 --warmup 5 2>&1 | tail -30
(cd "$OUT" && tar cf bench.tar bench && rm -rf bench)

# -- 3. training: what is left (C's decoder and D's generator both keep ref-v1's latent space,
#       so D trains through both phases and C + D are merged afterwards on the CPU) --------------
rest=$(( $(left) - 60 ))            # keep 60 s to load, save and pack
if [ "$rest" -lt 60 ]; then say "no time left to train ($rest s)"; exit 0; fi
ae=$(( rest * 2 / 5 )); gen=$(( rest - ae - 20 ))
say "training: autoencoders ${ae} s, then generators ${gen} s (D: $(( ae + gen )) s)"
for c in C D; do
  cp model/checkpoints/ref-v1/config.json model/checkpoints/ref-v1/model.safetensors "$RUN/$c/"
done
mins() { python3 -c "print(max($1, 1) / 60)"; }
common="--device $DEVICE --clips $CLIPS --clip-frames 12 --steps 1000000 --threads 2"
$LS train generator --out "$RUN/D" $common --batch 32 --lr 3e-4 --edge-weight 0.5 \
  --max-minutes "$(mins $(( ae + gen )))" > "$RUN/D/gen.log" 2>&1 &
GEN_D=$!
$LS train autoencoder --out "$RUN/A" $common --batch 64 --lr 1e-3 --edge-weight 0.5 \
  --max-minutes "$(mins $ae)" > "$RUN/A/ae.log" 2>&1 &
$LS train autoencoder --out "$RUN/B" $common --batch 64 --lr 1e-3 --edge-weight 0.5 \
  --latent-channels 16 --max-minutes "$(mins $ae)" > "$RUN/B/ae.log" 2>&1 &
$LS train autoencoder --out "$RUN/C" $common --batch 32 --lr 3e-4 --edge-weight 0.5 \
  --decoder-only --decoder-inputs mixed --max-minutes "$(mins $ae)" > "$RUN/C/ae.log" 2>&1 &
for job in $(jobs -p); do [ "$job" = "$GEN_D" ] || wait "$job"; done
for c in A B C; do tail -c 400 "$RUN/$c/ae.log"; echo; done
gen=$(( $(left) - 50 ))
say "generators ${gen} s"
$LS train generator --out "$RUN/A" $common --batch 32 --lr 1e-3 \
  --max-minutes "$(mins $gen)" > "$RUN/A/gen.log" 2>&1 &
$LS train generator --out "$RUN/B" $common --batch 32 --lr 1e-3 \
  --max-minutes "$(mins $gen)" > "$RUN/B/gen.log" 2>&1 &
wait
for c in A B C D; do
  tail -c 400 "$RUN/$c/gen.log" 2>/dev/null; echo
  rm -f "$RUN/$c/train_state/$CACHE" "$RUN/$c/train_state/"*.pt
  (cd "$RUN" && tar cf "$OUT/$c.tar" "$c")
done
ls -la "$OUT"
say "done"
