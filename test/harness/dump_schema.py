"""Regenerates src/tracking/sqlite-schema.ts from the installed Python mlflow.

Run with the harness venv (see setup-python.sh):

    .venv/bin/python test/harness/dump_schema.py [output.ts]

Why a generated module instead of hand-written DDL: the TypeScript SQLite store must create byte-for-byte the
schema Python mlflow creates (its alembic chain, ~70 migrations, takes seconds to run), so we let mlflow build a
fresh database once, read back what SQLite recorded in `sqlite_master`, and ship those statements verbatim.
Nothing is hard-coded here: the head revision, the revision list and the seed rows are all read from mlflow.

Python mlflow's own output is not deterministic: two fresh databases can differ in the order of the table
constraints of `runs` and in the creation (rowid) order of some indexes, because SQLAlchemy iterates sets of
schema objects. Both are cosmetic (same columns, constraints and indexes), so when the existing output differs
from a new dump only in that way it is left untouched, keeping regeneration diff-free.
"""

import json
import os
import re
import sqlite3
import sys
import tempfile

import mlflow
from alembic.script import ScriptDirectory
from mlflow.store.db.utils import _get_alembic_config

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_OUTPUT = os.path.join(REPO, "src", "tracking", "sqlite-schema.ts")
# Seed rows whose values depend on when/where the database was created; they are described, not copied.
TIME_OR_PATH_DEPENDENT = {"experiments"}


def fresh_database(workdir: str) -> str:
    """Lets mlflow create and seed a database exactly as a first `MlflowClient` call does."""
    os.chdir(workdir)  # the Default experiment's artifact location is <cwd>/mlruns/0
    db = os.path.join(workdir, "fresh.db")
    mlflow.tracking.MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


def known_revisions() -> list[str]:
    """Every alembic revision shipped with this mlflow, oldest first (walk_revisions yields head first)."""
    script = ScriptDirectory.from_config(_get_alembic_config(db_url=""))
    heads = script.get_heads()
    if len(heads) != 1:
        raise SystemExit(f"expected one alembic head, found {heads}")
    return [rev.revision for rev in script.walk_revisions()][::-1]


TABLE_CONSTRAINT = re.compile(r"^\s*(CONSTRAINT|FOREIGN KEY|CHECK|UNIQUE|PRIMARY KEY)\b")


def canonical(sql: str) -> str:
    """A statement with its table constraints sorted (the part mlflow does not emit in a stable order)."""
    lines = [line.rstrip().rstrip(",").rstrip() for line in sql.split("\n")]
    constraints = sorted(line for line in lines if TABLE_CONSTRAINT.match(line))
    return "\n".join([line for line in lines if not TABLE_CONSTRAINT.match(line)] + constraints)


def same_modulo_mlflow_nondeterminism(old: str, new: str) -> bool:
    """True when two generated modules differ at most in DDL statement order and table-constraint order."""
    literal = re.compile(r"""^  (["']CREATE .*["']),?$""", re.M)

    def unquote(literal_text: str) -> str:
        if literal_text.startswith("'"):
            swap = {"\\'": "'", '"': '\\"'}
            inner = re.sub(r'\\.|"', lambda m: swap.get(m.group(0), m.group(0)), literal_text[1:-1])
            literal_text = '"' + inner + '"'
        return json.loads(literal_text)

    def ddl(text: str) -> list[str]:
        return sorted(canonical(unquote(m)) for m in literal.findall(text))

    def rest(text: str) -> str:
        return literal.sub("", text)

    return ddl(old) == ddl(new) and rest(old) == rest(new)


def js(value) -> str:
    """A TypeScript literal; strings quoted the way the repo's formatter (biome) would quote them."""
    if isinstance(value, list):
        return "[" + ", ".join(js(v) for v in value) + "]"
    text = json.dumps(value, ensure_ascii=False)  # JSON literals are valid TypeScript literals
    if isinstance(value, str) and value.count('"') > value.count("'"):
        # Swap the quoting: \" becomes ", a bare ' becomes \' (escape pairs are matched whole, so \\ stays).
        swap = {'\\"': '"', "'": "\\'"}
        return "'" + re.sub(r"\\.|'", lambda m: swap.get(m.group(0), m.group(0)), text[1:-1]) + "'"
    return text


def main() -> None:
    output = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    with tempfile.TemporaryDirectory() as workdir:
        workdir = os.path.realpath(workdir)
        db = fresh_database(workdir)
        con = sqlite3.connect(db)
        ddl = [
            sql
            for (sql,) in con.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
        ]
        (revision,) = [r for (r,) in con.execute("SELECT version_num FROM alembic_version")]
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid")]
        seeds = []
        for table in tables:
            if table == "alembic_version" or table in TIME_OR_PATH_DEPENDENT:
                continue
            cur = con.execute(f'SELECT * FROM "{table}" ORDER BY rowid')
            columns = [d[0] for d in cur.description]
            for row in cur.fetchall():
                seeds.append((table, columns, list(row)))
        experiments = con.execute(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time,"
            " workspace FROM experiments"
        ).fetchall()
        con.close()

    if len(experiments) != 1:
        raise SystemExit(f"expected exactly the Default experiment, found {experiments}")
    exp_id, exp_name, exp_location, exp_stage, created, updated, workspace = experiments[0]
    # The store recreates these two from its own clock and artifact root; make sure that is all they are.
    if exp_location != os.path.join(workdir, "mlruns", str(exp_id)) or created != updated:
        raise SystemExit(f"unexpected Default experiment row {experiments[0]}")
    if revision not in known_revisions() or known_revisions()[-1] != revision:
        raise SystemExit(f"fresh database revision {revision} is not the head of {known_revisions()}")

    lines = [
        f"// generated by test/harness/dump_schema.py from mlflow {mlflow.__version__} — do not edit",
        "/**",
        f" * MLflow {mlflow.__version__}'s SQLite schema, as `sqlite_master` records it on a database freshly created by",
        " * Python mlflow (alembic head applied), plus the rows mlflow seeds such a database with.",
        " *",
        " * @module",
        " */",
        "",
        "/** The mlflow release this schema was read from. */",
        f"export const MLFLOW_VERSION = {js(mlflow.__version__)}",
        "",
        "/** The alembic revision (`alembic_version.version_num`) of a database at this schema. */",
        f"export const SCHEMA_REVISION = {js(revision)}",
        "",
        "/**",
        f" * Every alembic revision mlflow {mlflow.__version__} knows, oldest first; a database at any of these but the",
        " * last needs `mlflow db upgrade`, one at a revision not listed here was written by a newer mlflow.",
        " */",
        "export const KNOWN_REVISIONS: ReadonlyArray<string> = [",
        ",\n".join(f"  {js(r)}" for r in known_revisions()),
        "]",
        "",
        "/** `CREATE` statements (tables, indexes, triggers) verbatim from `sqlite_master.sql`, in rowid order. */",
        "export const SCHEMA_DDL: ReadonlyArray<string> = [",
        ",\n".join(f"  {js(s)}" for s in ddl),
        "]",
        "",
        "/** A row mlflow inserts when it creates a database, with the columns it sets. */",
        "export interface SeedRow {",
        "  readonly table: string",
        "  readonly columns: ReadonlyArray<string>",
        "  readonly values: ReadonlyArray<string | number | null>",
        "}",
        "",
        "/** Seed rows other than `alembic_version` and the Default experiment (which depend on time and place). */",
        "export const SEED_ROWS: ReadonlyArray<SeedRow> = [",
        ",\n".join(
            f"  {{\n    table: {js(t)},\n    columns: {js(c)},\n    values: {js(v)}\n  }}" for (t, c, v) in seeds
        ),
        "]",
        "",
        "/**",
        " * The experiment mlflow creates on a fresh database. Its `artifact_location` is `<artifact root>/<id>` and its",
        " * `creation_time` equals `last_update_time` (the creation instant).",
        " */",
        "export const DEFAULT_EXPERIMENT = {",
        f"  experimentId: {js(exp_id)},",
        f"  name: {js(exp_name)},",
        f"  lifecycleStage: {js(exp_stage)},",
        f"  workspace: {js(workspace)}",
        "} as const",
        "",
    ]
    text = "\n".join(lines)
    if os.path.exists(output):
        with open(output, encoding="utf-8") as f:
            if same_modulo_mlflow_nondeterminism(f.read(), text):
                print(f"{output} is up to date (revision {revision})", file=sys.stderr)
                return
    with open(output, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {output}: revision {revision}, {len(ddl)} statements, {len(seeds)} seed rows", file=sys.stderr)


if __name__ == "__main__":
    main()
