#!/usr/bin/env bash
# make bench: builds the development corpus (once, outside the repository) and scores the
# `compliance` CLI on it with the shared harness. Figures go to docs/benchmarks.md by hand,
# with this command. Usage: scripts/bench.sh EVAL_DIR EVAL_CACHE [KINDS]
set -euo pipefail
eval_dir=$(cd "${1:-../shared/eval}" && pwd)
cache=${2:-$(cd .. && pwd)/eval-cache}
kinds=${3:-duplicate,remix,negative}
repo=$(pwd)
mkdir -p "$cache/results"
cache=$(cd "$cache" && pwd)  # absolute: the harness runs from the eval folder
corpus="$cache/corpus/dev"
if [ ! -f "$corpus/build_info.json" ]; then
  echo "bench: building the development corpus in $corpus (about 11 minutes, a few GB)"
  ( cd "$eval_dir" && bash setup.sh && EVAL_CACHE="$cache" python3 build_corpus.py --split dev --out "$corpus" )
fi
# Score a frozen copy of the committed code (a git worktree at HEAD), so that editing the
# working tree while the benchmark runs cannot change what is measured.
snap="$cache/bench-tree"
git -C "$repo" worktree remove --force "$snap" >/dev/null 2>&1 || rm -rf "$snap"
git -C "$repo" worktree add --detach "$snap" HEAD >/dev/null
# model files that make install builds rather than git keeps (the GE2E weights)
for m in "$repo"/fingerprints/models/*.npz; do
  [ -f "$m" ] && cp "$m" "$snap/fingerprints/models/"
done
echo "bench: scoring commit $(git -C "$snap" rev-parse --short HEAD)"
export PYTHONPATH="$snap${PYTHONPATH:+:$PYTHONPATH}"
export COMPLIANCE_BIN="$repo/.venv/bin/python -m compliance"
S="python3 adapters/compliance_shim.py"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$cache/results/compliance_${kinds//,/_}_$stamp.json"
cd "$eval_dir"
python3 score.py --corpus "$corpus" \
  --cmd-index "$S index --catalogue {catalogue} --state {state}" \
  --cmd-query "$S query --queries {queries} --out {out} --state {state}" \
  --kinds "$kinds" --out "$out"
echo "bench: results in $out"
# The throughput targets are ratios to the Chromaprint anchor on the same machine: it is
# scored right after, on the same kinds (BENCH_ANCHOR=0 skips it).
if [ "${BENCH_ANCHOR:-1}" != "0" ]; then
  anchor="$cache/results/chromaprint_${kinds//,/_}_$stamp.json"
  python3 score.py --corpus "$corpus" --adapter chromaprint --kinds "$kinds" --out "$anchor"
  echo "bench: anchor results in $anchor"
  python3 - "$out" "$anchor" <<'PY'
import json, sys
ours, anchor = (json.load(open(p))["report"] for p in sys.argv[1:3])
for part in ("index", "query"):
    a, b = ours[part]["audio_s_per_cpu_s"], anchor[part]["audio_s_per_cpu_s"]
    print(f"bench: {part} {a} audio-s per CPU-s, Chromaprint {b}: {a / b:.2f}x")
print(f"bench: peak RSS {ours['peak_rss_mb']} MB, Chromaprint {anchor['peak_rss_mb']} MB")
PY
fi
