#!/usr/bin/env bash
# CI's second lane: the JAX a new user on Python 3.13 gets (issue 23). In a Debian trixie
# userland (.ci/py313_userland.sh; built once, reused after), the checkout installed the
# README's two ways: `pip install -e .` (the newest jax, 0.12.x) and `pip install -e ".[test]"`
# (gymnax caps jax below 0.12: 0.11.x). Each trains the default run on the split CPU for a few
# generations; the test install runs the quick tier, then the multi-device tests (the jaxlib
# 0.11.2 crash) and both notebooks from the slow tier.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash .ci/py313_userland.sh "${ESJAX_PY313_DIR:-/work/py313}" -- /bin/sh -c '
  set -e
  for v in plain test; do
    rm -rf /tmp/newest-$v
    ESJAX_CPU_DEVICES=2 /venv-$v/bin/esjax train --generations 3 --eval-every 3 --quiet \
      --no-tensorboard --no-compile-cache --out /tmp/newest-$v
    /venv-$v/bin/python -c "import jax, json; r = [json.loads(l) for l in open(\"/tmp/newest-$v/metrics.jsonl\")]; print(\"venv-$v jax\", jax.__version__, \"returns\", [round(m[\"pop_return_mean\"], 1) for m in r])"
  done
  # The quick tier (the README test command), then the slow tests this lane is for: the
  # split-CPU step on several devices (the jaxlib 0.11.2 crash) and both notebooks.
  cd /src
  export XDG_CACHE_HOME=$(mktemp -d)  # cold, as on the main lane
  /venv-test/bin/python -m pytest -q -p no:cacheprovider
  /venv-test/bin/python -m pytest -q -p no:cacheprovider -m slow \
    tests/invariance/test_multidevice.py tests/app/test_notebooks.py
'
echo "newest-JAX lane: $(( $(date +%s) - start )) s"
