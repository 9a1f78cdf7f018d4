import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import { makeSqliteStore, parseSqliteUri } from "../../src/tracking/sqlite.js"
import { KNOWN_REVISIONS, MLFLOW_VERSION, SCHEMA_DDL, SCHEMA_REVISION } from "../../src/tracking/sqlite-schema.js"
import type { Metric } from "../../src/tracking/store.js"
import { describeInterop, pythonJson, startMlflowServer } from "../harness/python.js"
import { tempDirs } from "../harness/temp.js"
import { bytes, MAX_FLOAT, newRun, storeSuite } from "./store-suite.js"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

/** A fresh directory per test, so tests never share a database. */
const tempDir = tempDirs("autogen-sqlite-")

/** MLflow's URI for an absolute path: `sqlite:///` + `/abs/path`. */
const uriOf = (file: string): string => `sqlite:///${file}`

const openStore = (dir: string, options: { file?: string; busyTimeoutMs?: number } = {}) =>
  makeSqliteStore({
    uri: uriOf(path.join(dir, options.file ?? "mlflow.db")),
    artifactRoot: path.join(dir, "mlruns"),
    busyTimeoutMs: options.busyTimeoutMs
  })

// As in src/tracking/sqlite.ts: better-sqlite3 12 wrappers collected by GC abort Node 24, so keep them all.
const keptAlive: Array<object> = []
const openDirect = (file: string): Database.Database => {
  const db = new Database(file)
  keptAlive.push(db)
  return db
}

/** Reads a database file directly, outside the store. */
const query = <T>(file: string, sql: string, ...params: Array<string | number>): Array<T> => {
  const db = openDirect(file)
  try {
    const statement = db.prepare<Array<string | number>, T>(sql)
    keptAlive.push(statement)
    if (statement.reader) return statement.all(...params)
    statement.run(...params)
    return []
  } finally {
    db.close()
  }
}

describe("parseSqliteUri", () => {
  it.effect("reads paths the way MLflow (SQLAlchemy) does", () =>
    Effect.gen(function* () {
      expect(yield* parseSqliteUri("sqlite:///mlflow.db", "/work")).toEqual({ _tag: "File", path: "/work/mlflow.db" })
      expect(yield* parseSqliteUri("sqlite:///sub/dir/a.db", "/work")).toEqual({
        _tag: "File",
        path: "/work/sub/dir/a.db"
      })
      expect(yield* parseSqliteUri("sqlite:////tmp/x.db", "/work")).toEqual({ _tag: "File", path: "/tmp/x.db" })
      expect(yield* parseSqliteUri("sqlite:///a%20b.db?timeout=3", "/w")).toEqual({ _tag: "File", path: "/w/a b.db" })
      expect(yield* parseSqliteUri("sqlite://")).toEqual({ _tag: "Memory" })
      expect(yield* parseSqliteUri("sqlite:///:memory:")).toEqual({ _tag: "Memory" })
      const error = yield* Effect.flip(parseSqliteUri("postgresql://user:pw@host/db"))
      expect(error._tag).toBe("TrackingError")
      expect(error.reason).toContain("sqlite:///")
    })
  )
})

describe("SqliteTrackingStore", () => {
  // Its timing is measured by bench/first-run.ts, never asserted here.
  it.live("creates a fresh database in new directories and its first run", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const store = yield* openStore(dir, { file: "nested/dir/mlflow.db" })
      const run = yield* newRun(store, "timing", "first")
      expect(run.status).toBe("RUNNING")
      expect(fs.existsSync(path.join(dir, "nested/dir/mlflow.db"))).toBe(true)
    })
  )

  it.live("writes MLflow's schema, revision and seed rows in one go", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = path.join(dir, "mlflow.db")
      const before = Date.now()
      yield* Effect.scoped(openStore(dir))
      const objects = query<{ sql: string }>(file, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
      expect(objects.map((o) => o.sql)).toEqual(SCHEMA_DDL)
      expect(query(file, "SELECT version_num FROM alembic_version")).toEqual([{ version_num: SCHEMA_REVISION }])
      expect(query(file, "SELECT * FROM workspaces")).toEqual([
        {
          name: "default",
          description: "Default workspace for legacy resources",
          default_artifact_root: null,
          trace_archival_location: null,
          trace_archival_retention: null
        }
      ])
      const [experiment] = query<Record<string, unknown>>(file, "SELECT * FROM experiments")
      expect(experiment).toMatchObject({
        experiment_id: 0,
        name: "Default",
        artifact_location: path.join(dir, "mlruns", "0"),
        lifecycle_stage: "active",
        workspace: "default"
      })
      expect(experiment?.creation_time).toBeGreaterThanOrEqual(before)
      expect(experiment?.last_update_time).toBe(experiment?.creation_time)
      expect(query(file, "PRAGMA journal_mode")).toEqual([{ journal_mode: "wal" }])
      // Reopening an existing database at our revision is accepted and changes nothing.
      yield* Effect.scoped(openStore(dir))
      expect(query(file, "SELECT count(*) AS n FROM experiments")).toEqual([{ n: 1 }])
    })
  )

  it.effect("opens an in-memory database for sqlite://", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const store = yield* makeSqliteStore({ uri: "sqlite://", artifactRoot: path.join(dir, "mlruns") })
      const run = yield* newRun(store, "e", "r")
      yield* store.logBatch(run.runId, { metrics: [{ key: "m", value: 1, timestamp: 1, step: 0 }] })
      expect((yield* store.getRun(run.runId)).latestMetrics).toEqual([{ key: "m", value: 1, timestamp: 1, step: 0 }])
      expect(fs.readdirSync(dir)).toEqual([])
    })
  )

  it.effect("refuses older, newer and foreign databases with a clear reason", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = path.join(dir, "mlflow.db")
      yield* Effect.scoped(openStore(dir))
      const setRevision = (revision: string) => query(file, "UPDATE alembic_version SET version_num = ?", revision)

      const older = KNOWN_REVISIONS.at(-2)!
      setRevision(older)
      const olderError = yield* Effect.flip(Effect.scoped(openStore(dir)))
      expect(olderError.operation).toBe("open")
      expect(olderError.uri).toBe(uriOf(file))
      expect(olderError.reason).toContain(older)
      expect(olderError.reason).toContain(`mlflow db upgrade sqlite:///${file}`)

      setRevision("0123456789ab")
      const newerError = yield* Effect.flip(Effect.scoped(openStore(dir)))
      expect(newerError.reason).toContain("0123456789ab")
      expect(newerError.reason).toContain(`newer MLflow than ${MLFLOW_VERSION}`)
      expect(newerError.message).toContain(uriOf(file))

      query(file, "DELETE FROM alembic_version")
      const emptyError = yield* Effect.flip(Effect.scoped(openStore(dir)))
      expect(emptyError.reason).toContain("no revision")

      const foreign = path.join(dir, "app.db")
      query(foreign, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
      const foreignError = yield* Effect.flip(Effect.scoped(openStore(dir, { file: "app.db" })))
      expect(foreignError.reason).toContain("not an MLflow tracking database")
      expect(foreignError.reason).toContain("users")
      // Refusing must not have touched the foreign file.
      expect(query(foreign, "SELECT name FROM sqlite_master").map((r) => (r as { name: string }).name)).toEqual([
        "users"
      ])

      fs.writeFileSync(path.join(dir, "junk.db"), "this is not a database, just text long enough to have a header")
      const junkError = yield* Effect.flip(Effect.scoped(openStore(dir, { file: "junk.db" })))
      expect(junkError.reason).toContain("not a SQLite database")
    })
  )

  it.effect("numbers experiments and places their artifacts as MLflow does; refuses deleted experiments and runs", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = path.join(dir, "mlflow.db")
      const store = yield* openStore(dir)
      const first = yield* store.getOrCreateExperiment("tuning")
      expect(first).toMatchObject({ experimentId: "1", artifactLocation: path.join(dir, "mlruns", "1") })
      expect((yield* store.getOrCreateExperiment("other")).experimentId).toBe("2")
      const run = yield* newRun(store, "other", "r")

      query(file, "UPDATE experiments SET lifecycle_stage = 'deleted' WHERE name = 'tuning'")
      const error = yield* Effect.flip(store.getOrCreateExperiment("tuning"))
      expect(error.operation).toBe("getOrCreateExperiment")
      expect(error.reason).toContain("deleted")
      const runError = yield* Effect.flip(
        store.createRun({ experimentId: "1", runName: "r", userId: "u", startTime: 1, tags: [] })
      )
      expect(runError.reason).toContain("'active'")

      query(file, "UPDATE runs SET lifecycle_stage = 'deleted'")
      const deleted = yield* Effect.flip(store.logBatch(run.runId, { tags: [{ key: "a", value: "3" }] }))
      expect(deleted.reason).toContain("'active'")
      expect((yield* Effect.flip(store.endRun(run.runId, "FAILED", 1))).reason).toContain("'active'")
    })
  )

  it.effect("creates runs with exactly the row MLflow's create_run writes, and nothing for a refused one", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = path.join(dir, "mlflow.db")
      const store = yield* openStore(dir)
      const experiment = yield* store.getOrCreateExperiment("e")
      const run = yield* store.createRun({
        experimentId: experiment.experimentId,
        runName: "trial",
        userId: "alice",
        startTime: 1234,
        tags: [{ key: "job.kind", value: "tuning" }]
      })
      expect(query(file, "SELECT * FROM runs")).toEqual([
        {
          run_uuid: run.runId,
          name: "trial",
          source_type: "UNKNOWN",
          source_name: "",
          entry_point_name: "",
          user_id: "alice",
          status: "RUNNING",
          start_time: 1234,
          end_time: null,
          source_version: "",
          lifecycle_stage: "active",
          artifact_uri: run.artifactUri,
          experiment_id: 1,
          deleted_time: null
        }
      ])
      expect(query(file, `SELECT "key", value FROM tags ORDER BY "key"`)).toEqual([
        { key: "job.kind", value: "tuning" },
        { key: "mlflow.runName", value: "trial" }
      ])
      yield* Effect.flip(
        store.createRun({
          experimentId: experiment.experimentId,
          runName: "a",
          userId: "u",
          startTime: 1,
          tags: [{ key: "mlflow.runName", value: "b" }]
        })
      )
      yield* Effect.flip(store.createRun({ experimentId: "99", runName: "a", userId: "u", startTime: 1, tags: [] }))
      expect(query(file, "SELECT count(*) AS n FROM runs")).toEqual([{ n: 1 }])
    })
  )

  it.effect(
    "writes params, metrics and latest_metrics as MLflow's SQL store: is_nan, clamped ±Infinity, no duplicates",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const file = path.join(dir, "mlflow.db")
        const store = yield* openStore(dir)
        const run = yield* newRun(store, "e", "r")
        const points: ReadonlyArray<Metric> = [
          { key: "m", value: 1.5, timestamp: 100, step: 0 },
          { key: "m", value: Number.NaN, timestamp: 101, step: 1 },
          { key: "m", value: Number.POSITIVE_INFINITY, timestamp: 102, step: 2 },
          { key: "m", value: Number.NEGATIVE_INFINITY, timestamp: 103, step: 3 },
          { key: "m", value: 1.5, timestamp: 100, step: 0 }
        ]
        yield* store.logBatch(run.runId, { metrics: points, params: [{ key: "lr", value: "0.1" }] })
        yield* store.logBatch(run.runId, { metrics: points, params: [{ key: "lr", value: "0.1" }] })
        expect(query(file, `SELECT value, timestamp, step, is_nan FROM metrics ORDER BY step`)).toEqual([
          { value: 1.5, timestamp: 100, step: 0, is_nan: 0 },
          { value: 0, timestamp: 101, step: 1, is_nan: 1 },
          { value: MAX_FLOAT, timestamp: 102, step: 2, is_nan: 0 },
          { value: -MAX_FLOAT, timestamp: 103, step: 3, is_nan: 0 }
        ])
        expect(query(file, `SELECT "key", value FROM params`)).toEqual([{ key: "lr", value: "0.1" }])
        expect(query(file, `SELECT value, timestamp, step, is_nan FROM latest_metrics`)).toEqual([
          { value: -MAX_FLOAT, timestamp: 103, step: 3, is_nan: 0 }
        ])
        yield* store.logBatch(run.runId, { metrics: [{ key: "m", value: Number.NaN, timestamp: 104, step: 4 }] })
        expect(query(file, `SELECT value, timestamp, step, is_nan FROM latest_metrics`)).toEqual([
          { value: 0, timestamp: 104, step: 4, is_nan: 1 }
        ])
        const conflict = yield* Effect.flip(store.logBatch(run.runId, { params: [{ key: "lr", value: "0.2" }] }))
        expect(conflict.reason).toBe(
          `params are write-once in MLflow: param "lr" already has value "0.1", refusing new value "0.2" ` +
            `(run ${run.runId}); nothing of the batch was written`
        )
      })
  )

  it.effect("writes artifacts under the run's directory atomically, and refuses a location that is not local", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const store = yield* openStore(dir)
      const run = yield* newRun(store, "e", "r")
      yield* store.putArtifact(run, "logs/deep/job.log", bytes("hello"))
      yield* store.putArtifact(run, "logs/deep/job.log", bytes("hello!"))
      expect(fs.readFileSync(path.join(run.artifactUri, "logs", "deep", "job.log"), "utf8")).toBe("hello!")
      // No temporary file is left behind.
      expect(fs.readdirSync(path.join(run.artifactUri, "logs", "deep"))).toEqual(["job.log"])
      const escaping = yield* Effect.flip(
        store.putArtifact(run, "../../escape.txt", { _tag: "Bytes", bytes: new Uint8Array(1) })
      )
      expect(escaping.reason).toContain("'..'")
      expect(fs.existsSync(path.join(dir, "mlruns", "escape.txt"))).toBe(false)
      const remote = yield* Effect.flip(
        store.putArtifact({ ...run, artifactUri: "s3://bucket/1/abc/artifacts" }, "x.txt", {
          _tag: "Bytes",
          bytes: new Uint8Array(1)
        })
      )
      expect(remote.reason).toContain("not a local path")
    })
  )

  it.effect("surfaces a lock held beyond the busy timeout as a TrackingError", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const store = yield* openStore(dir, { busyTimeoutMs: 200 })
      const run = yield* newRun(store, "e", "r")
      const other = openDirect(path.join(dir, "mlflow.db"))
      other.exec("BEGIN IMMEDIATE")
      const error = yield* Effect.flip(store.logBatch(run.runId, { tags: [{ key: "a", value: "1" }] }))
      other.exec("ROLLBACK")
      other.close()
      expect(error.operation).toBe("logBatch")
      expect(error.reason).toContain("locked by another writer for more than 200 ms")
      yield* store.logBatch(run.runId, { tags: [{ key: "a", value: "1" }] })
    })
  )

  it.live(
    "lets several processes and connections create and write one file at once",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const file = path.join(dir, "shared.db")
        const uri = uriOf(file)
        const root = path.join(dir, "mlruns")
        const batches = 30
        const script = path.join(dir, "writer.mts")
        const effectUrl = pathToFileURL(path.join(repoRoot, "node_modules/effect/dist/Effect.js")).href
        const storeUrl = pathToFileURL(path.join(repoRoot, "src/tracking/sqlite.ts")).href
        // Each child loads everything, reports "ready", then waits for "go" so that all of them open the
        // not-yet-existing file at the same moment.
        fs.writeFileSync(
          script,
          `import * as Effect from ${JSON.stringify(effectUrl)}
import { makeSqliteStore } from ${JSON.stringify(storeUrl)}
const [uri, root, name] = process.argv.slice(2)
const program = Effect.scoped(Effect.gen(function* () {
  const store = yield* makeSqliteStore({ uri, artifactRoot: root })
  const experiment = yield* store.getOrCreateExperiment("race")
  const run = yield* store.createRun({ experimentId: experiment.experimentId, runName: name, userId: "u", startTime: Date.now(), tags: [] })
  for (let batch = 0; batch < ${batches}; batch++) {
    const metrics = Array.from({ length: 100 }, (_, i) => ({ key: "m" + (i % 5), value: i, timestamp: batch * 1000 + i, step: batch }))
    yield* store.logBatch(run.runId, { metrics, params: [{ key: "p" + batch, value: name }] })
    yield* Effect.sleep("2 millis")
  }
  yield* store.endRun(run.runId, "FINISHED", Date.now())
}))
process.stdout.write("ready\\n")
process.stdin.once("data", () => {
  Effect.runPromise(program).then(() => process.exit(0), (error) => { console.error(String(error)); process.exit(1) })
})
`
        )
        const children = ["c1", "c2", "c3"].map((name) => {
          const proc = spawn(process.execPath, ["--import", "tsx", script, uri, root, name], {
            cwd: repoRoot,
            stdio: ["pipe", "pipe", "pipe"]
          })
          let stderr = ""
          proc.stderr.on("data", (chunk: Buffer) => {
            stderr += chunk.toString()
          })
          const ready = new Promise<void>((resolve) => proc.stdout.once("data", () => resolve()))
          const done = new Promise<{ code: number | null; stderr: string }>((resolve) =>
            proc.on("close", (code) => resolve({ code, stderr }))
          )
          return { proc, ready, done }
        })
        yield* Effect.promise(() => Promise.all(children.map((c) => c.ready)))
        for (const c of children) c.proc.stdin.end("go\n")

        const inProcess = (name: string) =>
          Effect.scoped(
            Effect.gen(function* () {
              const store = yield* makeSqliteStore({ uri, artifactRoot: root })
              const run = yield* newRun(store, "race", name)
              for (let batch = 0; batch < batches; batch++) {
                const metrics = Array.from({ length: 100 }, (_, i) => ({
                  key: `m${i % 5}`,
                  value: i,
                  timestamp: batch * 1000 + i,
                  step: batch
                }))
                yield* store.logBatch(run.runId, { metrics, params: [{ key: `p${batch}`, value: name }] })
                yield* Effect.sleep("10 millis")
              }
              yield* store.endRun(run.runId, "FINISHED", Date.now())
            })
          )
        // The in-process stores (sharing one connection) start right after the children, while they create the file.
        yield* Effect.sleep("30 millis")
        yield* Effect.all([inProcess("p1"), inProcess("p2")], { concurrency: "unbounded" })
        for (const result of yield* Effect.promise(() => Promise.all(children.map((c) => c.done)))) {
          // Whatever else a Node version may warn about, no writer may fail or report a lock.
          expect(result.stderr).not.toMatch(/locked|TrackingError/)
          expect(result.code).toBe(0)
        }
        expect(query(file, "SELECT count(*) AS n FROM experiments WHERE name = 'race'")).toEqual([{ n: 1 }])
        expect(query(file, "SELECT count(*) AS n FROM experiments")).toEqual([{ n: 2 }])
        expect(query(file, "SELECT status, count(*) AS n FROM runs GROUP BY status")).toEqual([
          { status: "FINISHED", n: 5 }
        ])
        expect(query(file, "SELECT count(*) AS n FROM metrics")).toEqual([{ n: 5 * batches * 100 }])
        expect(query(file, "SELECT count(*) AS n FROM params")).toEqual([{ n: 5 * batches }])
        expect(query(file, "SELECT count(*) AS n FROM latest_metrics")).toEqual([{ n: 5 * 5 }])
      }),
    60_000
  )

  it.live(
    "logs 100,000 metric points in 100 batches efficiently",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const file = path.join(dir, "mlflow.db")
        const store = yield* openStore(dir)
        const run = yield* newRun(store, "perf", "r")
        const batches = Array.from({ length: 100 }, (_, batch) =>
          Array.from({ length: 1000 }, (_, i) => ({
            key: `metric_${i % 10}`,
            value: Math.sin(batch * 1000 + i),
            timestamp: 1_700_000_000_000 + batch * 1000 + i,
            step: batch * 100 + Math.floor(i / 10)
          }))
        )
        for (const metrics of batches) yield* store.logBatch(run.runId, { metrics })
        expect(query(file, "SELECT count(*) AS n FROM metrics")).toEqual([{ n: 100_000 }])
        const latest = (yield* store.getRun(run.runId)).latestMetrics
        expect(latest.length).toBe(10)
        expect(latest[0]).toEqual(batches[99]!.filter((m) => m.key === "metric_0").at(-1))
      }),
    60_000
  )
})

// ---------------------------------------------------------------------------------------------------------------
// The contract every store keeps, proved with Python mlflow as the oracle (store-suite.ts), on a fresh file each

storeSuite("SqliteTrackingStore", () =>
  Effect.gen(function* () {
    const dir = tempDir()
    const store = yield* openStore(dir)
    return { store, oracleUri: uriOf(path.join(dir, "mlflow.db")), cwd: dir }
  })
)

// ---------------------------------------------------------------------------------------------------------------
// What only the SQLite store can show Python mlflow: its schema, and a server on its file

/** File descriptors this process holds open on files under `dir` (Linux: /proc/self/fd). */
const openFilesUnder = (dir: string): number =>
  fs.readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)
    } catch {
      return false
    }
  }).length

describe("SqliteTrackingStore connections (shared by the stores of a process)", () => {
  it.effect("a store opened after another on the same file sees everything, and so do concurrent stores", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const first = yield* Effect.scoped(Effect.flatMap(openStore(dir), (store) => newRun(store, "e", "one")))
      yield* Effect.scoped(
        Effect.gen(function* () {
          const [a, b] = yield* Effect.all([openStore(dir), openStore(dir)])
          expect((yield* a.getRun(first.runId)).info.runName).toBe("one")
          const second = yield* newRun(b, "e", "two")
          // A store that closes leaves the other working.
          yield* Effect.scoped(Effect.flatMap(openStore(dir), (c) => c.getRun(second.runId)))
          yield* a.endRun(second.runId, "FINISHED", 1_700_000_000_999)
          expect((yield* b.getRun(second.runId)).info.status).toBe("FINISHED")
        })
      )
      expect(query(path.join(dir, "mlflow.db"), "SELECT name, status FROM runs ORDER BY name")).toEqual([
        { name: "one", status: "RUNNING" },
        { name: "two", status: "FINISHED" }
      ])
    })
  )

  it.effect("a file deleted or replaced since is opened anew: writes go to the file that is there now", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = path.join(dir, "mlflow.db")
      yield* Effect.scoped(Effect.flatMap(openStore(dir), (store) => newRun(store, "old", "before")))
      for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(`${file}${suffix}`, { force: true })
      yield* Effect.scoped(Effect.flatMap(openStore(dir), (store) => newRun(store, "new", "after")))
      expect(query(file, "SELECT name FROM runs")).toEqual([{ name: "after" }])
      expect(query(file, "SELECT name FROM experiments ORDER BY experiment_id")).toEqual([
        { name: "Default" },
        { name: "new" }
      ])
    })
  )

  it.effect("the revision is checked on every open, also when the connection is reused", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = path.join(dir, "mlflow.db")
      yield* Effect.scoped(openStore(dir))
      // Another process migrates the file to a revision this store does not know.
      query(file, "UPDATE alembic_version SET version_num = 'ffffffffffff'")
      const error = yield* Effect.flip(Effect.scoped(openStore(dir)))
      expect(error.message).toMatch(/revision ffffffffffff/)
      query(file, `UPDATE alembic_version SET version_num = '${SCHEMA_REVISION}'`)
      yield* Effect.scoped(openStore(dir))
    })
  )

  it.effect("at most a few idle connections stay open, however many files were used", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      for (let index = 0; index < 12; index++) {
        yield* Effect.scoped(
          Effect.flatMap(openStore(dir, { file: `db${index}.db` }), (store) => newRun(store, "e", "r"))
        )
      }
      // A WAL database holds three files open (db, -wal, -shm): 4 idle connections, 12 descriptors at most.
      expect(openFilesUnder(dir)).toBeLessThanOrEqual(12)
      expect(openFilesUnder(dir)).toBeGreaterThan(0)
    })
  )

  it.live(
    "connections still open when the process exits are closed: the WAL is checkpointed into the file",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const file = path.join(dir, "mlflow.db")
        const script = path.join(dir, "exit.mts")
        const effectUrl = pathToFileURL(path.join(repoRoot, "node_modules/effect/dist/Effect.js")).href
        const storeUrl = pathToFileURL(path.join(repoRoot, "src/tracking/sqlite.ts")).href
        fs.writeFileSync(
          script,
          `import * as Effect from ${JSON.stringify(effectUrl)}
import { makeSqliteStore } from ${JSON.stringify(storeUrl)}
const program = Effect.scoped(Effect.gen(function* () {
  const store = yield* makeSqliteStore({ uri: ${JSON.stringify(uriOf(file))}, artifactRoot: ${JSON.stringify(path.join(dir, "mlruns"))} })
  const experiment = yield* store.getOrCreateExperiment("exit")
  yield* store.createRun({ experimentId: experiment.experimentId, runName: "r", userId: "u", startTime: 1, tags: [] })
}))
await Effect.runPromise(program)
const { existsSync } = await import("node:fs")
if (!existsSync(${JSON.stringify(`${file}-wal`)})) throw new Error("the connection was closed with its store")
// As the CLI ends: process.exit, which skips better-sqlite3's own clean-up of open databases.
process.exit(0)
`
        )
        const code = yield* Effect.promise(
          () =>
            new Promise<number | null>((resolve) =>
              spawn(process.execPath, ["--import", "tsx", script], { cwd: repoRoot, stdio: "inherit" }).on(
                "close",
                resolve
              )
            )
        )
        expect(code).toBe(0)
        // Closed at exit: SQLite checkpointed the WAL into the file and removed it.
        expect(fs.existsSync(`${file}-wal`)).toBe(false)
        expect(query(file, "SELECT name FROM runs")).toEqual([{ name: "r" }])
      }),
    60_000
  )
})

/** Table constraints: the one part of its DDL that Python mlflow emits in no stable order (it iterates sets). */
const TABLE_CONSTRAINT = /^\s*(CONSTRAINT|FOREIGN KEY|CHECK|UNIQUE|PRIMARY KEY)\b/

/**
 * `sqlite_master` by type and name, verbatim except that a table's constraint lines are sorted: two fresh
 * databases made by Python mlflow itself can list the constraints of `runs` in different orders.
 */
const schemaOf = (file: string) =>
  query<{ type: string; name: string; tbl_name: string; sql: string | null }>(
    file,
    "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
  ).map((row) => {
    if (row.type !== "table" || row.sql === null) return row
    const lines = row.sql.split("\n").map((line) => line.trimEnd().replace(/,$/, "").trimEnd())
    const constraints = lines.filter((line) => TABLE_CONSTRAINT.test(line)).sort()
    return { ...row, sql: [...lines.filter((line) => !TABLE_CONSTRAINT.test(line)), ...constraints].join("\n") }
  })

describeInterop("SqliteTrackingStore: its file, read by Python mlflow", () => {
  it.live(
    "creates the same schema, revision and seed rows as Python mlflow",
    () =>
      Effect.gen(function* () {
        const pyDir = tempDir()
        const tsDir = tempDir()
        yield* Effect.promise(() =>
          pythonJson(
            "import json, mlflow\n" +
              "c = mlflow.tracking.MlflowClient(tracking_uri='sqlite:///mlflow.db')\n" +
              "print(json.dumps([e.name for e in c.search_experiments()]))",
            [],
            { cwd: pyDir }
          )
        )
        yield* Effect.scoped(openStore(tsDir))
        const pyFile = path.join(pyDir, "mlflow.db")
        const tsFile = path.join(tsDir, "mlflow.db")
        expect(schemaOf(tsFile)).toEqual(schemaOf(pyFile))
        expect(query(tsFile, "SELECT * FROM alembic_version")).toEqual(query(pyFile, "SELECT * FROM alembic_version"))
        expect(query(tsFile, "SELECT * FROM alembic_version")).toEqual([{ version_num: SCHEMA_REVISION }])
        const seeds = (file: string, dir: string) => ({
          workspaces: query(file, "SELECT *, typeof(description) AS t FROM workspaces"),
          experiments: query<Record<string, unknown>>(
            file,
            `SELECT experiment_id, name, artifact_location, lifecycle_stage, workspace,
               creation_time = last_update_time AS same_time, typeof(creation_time) AS time_type FROM experiments`
          ).map((row) => ({ ...row, artifact_location: path.relative(dir, String(row.artifact_location)) })),
          rows: Object.fromEntries(
            query<{ name: string }>(file, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").map(
              ({ name }) => [name, query(file, `SELECT count(*) AS n FROM "${name}"`)]
            )
          )
        })
        expect(seeds(tsFile, tsDir)).toEqual(seeds(pyFile, pyDir))
      }),
    60_000
  )

  it.live(
    "mlflow server serves our runs over REST",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const file = path.join(dir, "mlflow.db")
        const store = yield* openStore(dir)
        const run = yield* newRun(store, "served", "on-server")
        yield* store.logBatch(run.runId, {
          params: [{ key: "lr", value: "0.01" }],
          tags: [{ key: "job.kind", value: "demo" }],
          metrics: [
            { key: "loss", value: 0.9, timestamp: 1_700_000_000_100, step: 0 },
            { key: "loss", value: 0.4, timestamp: 1_700_000_000_200, step: 1 }
          ]
        })
        yield* store.putArtifact(run, "out/result.json", bytes("{}"))
        const server = yield* Effect.acquireRelease(
          Effect.promise(() => startMlflowServer({ backendStoreUri: uriOf(file), cwd: dir })),
          (server) => Effect.promise(() => server.stop())
        )
        // Written while the server has the file open: WAL lets both sides proceed.
        yield* store.endRun(run.runId, "FINISHED", 1_700_000_000_999)
        const get = <T>(route: string) =>
          Effect.promise(async () => {
            const response = await fetch(`${server.url}${route}`)
            expect(response.status).toBe(200)
            return (await response.json()) as T
          })
        const served = yield* get<{
          run: {
            info: Record<string, unknown>
            data: {
              params: ReadonlyArray<{ key: string; value: string }>
              tags: ReadonlyArray<{ key: string; value: string }>
              metrics: ReadonlyArray<{ key: string; value: number; timestamp: number; step: number }>
            }
          }
        }>(`/api/2.0/mlflow/runs/get?run_id=${run.runId}`)
        expect(served.run.info).toMatchObject({
          run_id: run.runId,
          run_name: "on-server",
          experiment_id: run.experimentId,
          status: "FINISHED",
          start_time: run.startTime,
          end_time: 1_700_000_000_999,
          artifact_uri: run.artifactUri,
          lifecycle_stage: "active",
          user_id: "tester"
        })
        expect(served.run.data.params).toEqual([{ key: "lr", value: "0.01" }])
        expect([...served.run.data.tags].sort((a, b) => a.key.localeCompare(b.key))).toEqual([
          { key: "job.kind", value: "demo" },
          { key: "mlflow.runName", value: "on-server" }
        ])
        expect(served.run.data.metrics).toEqual([{ key: "loss", value: 0.4, timestamp: 1_700_000_000_200, step: 1 }])
        const history = yield* get<{ metrics: ReadonlyArray<{ value: number; step: number }> }>(
          `/api/2.0/mlflow/metrics/get-history?run_id=${run.runId}&metric_key=loss`
        )
        expect(history.metrics.map((m) => [m.step, m.value])).toEqual([
          [0, 0.9],
          [1, 0.4]
        ])
        const artifacts = yield* get<{ files: ReadonlyArray<{ path: string; is_dir: boolean }> }>(
          `/api/2.0/mlflow/artifacts/list?run_id=${run.runId}&path=out`
        )
        expect(artifacts.files).toMatchObject([{ path: "out/result.json", is_dir: false }])
      }),
    120_000
  )
})
