/**
 * src/tracking/sqlite-schema.ts, the schema data the SQLite store writes (generated from Python mlflow by
 * test/harness/dump_schema.py; test/tracking/sqlite.test.ts compares a fresh file with one Python made): the
 * data is consistent in itself.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import {
  DEFAULT_EXPERIMENT,
  KNOWN_REVISIONS,
  MLFLOW_VERSION,
  SCHEMA_DDL,
  SCHEMA_REVISION,
  SEED_ROWS
} from "../../src/tracking/sqlite-schema.js"

// As in src/tracking/sqlite.ts: better-sqlite3 12 wrappers collected by GC abort Node 24, so keep them all.
const keptAlive: Array<object> = []

/** An in-memory database with every statement of the schema applied. */
const schemaDatabase = (): Database.Database => {
  const db = new Database(":memory:")
  keptAlive.push(db)
  for (const statement of SCHEMA_DDL) db.exec(statement)
  return db
}

const all = <T>(db: Database.Database, sql: string): Array<T> => {
  const statement = db.prepare<[], T>(sql)
  keptAlive.push(statement)
  return statement.all()
}

describe("MLflow's SQLite schema", () => {
  it("is MLflow 3.18.0's, at the last revision it knows, each revision listed once", () => {
    expect(MLFLOW_VERSION).toBe("3.18.0")
    expect(KNOWN_REVISIONS.at(-1)).toBe(SCHEMA_REVISION)
    expect(new Set(KNOWN_REVISIONS).size).toBe(KNOWN_REVISIONS.length)
    for (const revision of KNOWN_REVISIONS) expect(revision).toMatch(/^[0-9a-f]{12,}$/)
  })

  it("applies in order to an empty database, with every table the store writes", () => {
    const db = schemaDatabase()
    const tables = all<{ name: string }>(db, "SELECT name FROM sqlite_master WHERE type = 'table'").map((t) => t.name)
    expect(tables).toEqual(
      expect.arrayContaining([
        "alembic_version",
        "experiments",
        "runs",
        "params",
        "tags",
        "metrics",
        "latest_metrics",
        "workspaces"
      ])
    )
    // Every statement created something: nothing is a duplicate or a no-op.
    const objects = all<{ n: number }>(db, "SELECT count(*) AS n FROM sqlite_master WHERE sql IS NOT NULL")[0]?.n
    expect(objects).toBe(SCHEMA_DDL.length)
    expect(all(db, "PRAGMA foreign_key_check")).toEqual([])
  })

  it("takes its seed rows, with exactly the columns they name", () => {
    const db = schemaDatabase()
    for (const seed of SEED_ROWS) {
      const columns = all<{ name: string }>(db, `PRAGMA table_info("${seed.table}")`).map((column) => column.name)
      expect(columns).toEqual(expect.arrayContaining([...seed.columns]))
      expect(seed.values).toHaveLength(seed.columns.length)
      const insert = db.prepare(
        `INSERT INTO "${seed.table}" (${seed.columns.map((c) => `"${c}"`).join(", ")}) VALUES (${seed.columns.map(() => "?").join(", ")})`
      )
      keptAlive.push(insert)
      insert.run(...seed.values)
    }
    expect(DEFAULT_EXPERIMENT).toMatchObject({ experimentId: 0, name: "Default", lifecycleStage: "active" })
  })
})
