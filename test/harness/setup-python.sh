#!/usr/bin/env bash
# Installs the Python test harness: mlflow==3.18.0 in a venv at $VENV (default: <repo>/.venv), plus psycopg 3
# (SQLAlchemy 2's driver for postgresql:// URIs), with which the REST store's tests run `mlflow server` on
# PostgreSQL, and Flask-WTF (the `mlflow[auth]` extra), with which they run `mlflow server --app-name basic-auth`.
# Why not a plain `pip install mlflow==3.18.0`: that release pins mlflow-tracing==3.18.0, which the package
# registry reachable here does not serve. mlflow-tracing only re-ships a subset of the `mlflow` package that
# mlflow-skinny already contains, so we install mlflow + mlflow-skinny without resolution, then the rest of
# their own requirements (markers kept, extras dropped).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
VENV=${VENV:-$(cd "$here/../.." && pwd)/.venv}
MLFLOW_VERSION=3.18.0
pip=("$VENV/bin/pip" install -q --disable-pip-version-check)
# Whether the venv already imports these modules (and has the right mlflow).
ready() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "
import importlib.metadata as m, sys
sys.exit(m.version('mlflow') != '$MLFLOW_VERSION')
import $1" 2>/dev/null
}
if ready "mlflow.server, psycopg, flask_wtf"; then
  echo "harness: mlflow $MLFLOW_VERSION, psycopg and Flask-WTF ready in $VENV"
  exit 0
fi
if ! ready mlflow.server; then
  python3 -m venv "$VENV"
  "${pip[@]}" --no-deps "mlflow==$MLFLOW_VERSION" "mlflow-skinny==$MLFLOW_VERSION"
  "$VENV/bin/python" - >"$VENV/mlflow-requirements.txt" <<'PY'
import importlib.metadata as md
for dist in ("mlflow", "mlflow-skinny"):
    for req in md.requires(dist) or []:
        if "extra ==" in req or req.startswith("mlflow-"):
            continue
        print(req)
PY
  echo "harness: installing mlflow's requirements; pip will report mlflow-tracing==$MLFLOW_VERSION as missing: expected, see above"
  "${pip[@]}" -r "$VENV/mlflow-requirements.txt"
fi
"${pip[@]}" "psycopg[binary]" "Flask-WTF<2"
"$VENV/bin/python" -c "import mlflow, mlflow.server, mlflow.server.auth, psycopg; print('harness: mlflow', mlflow.__version__, 'with its basic-auth app, and psycopg', psycopg.__version__, 'installed in $VENV')"
