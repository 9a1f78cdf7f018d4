import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import { makeSqliteStore, parseSqliteUri } from "../../src/tracking/sqlite.js"
import { KNOWN_REVISIONS, MLFLOW_VERSION, SCHEMA_DDL, SCHEMA_REVISION } from "../../src/tracking/sqlite-schema.js"
import type { ArtifactEntry, Metric, TrackingStore } from "../../src/tracking/store.js"
import { describeInterop, pythonJson, startMlflowServer } from "../harness/python.js"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
const MAX_FLOAT = 1.7976931348623157e308

const dirs: Array<string> = []
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

/** A fresh directory per test, so tests never share a database. */
const tempDir = (): string => {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "autogen-sqlite-")))
  dirs.push(dir)
  return dir
}

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

const newRun = (store: TrackingStore, experimentName: string, runName: string, startTime = 1_700_000_000_000) =>
  Effect.gen(function* () {
    const experiment = yield* store.getOrCreateExperiment(experimentName)
    return yield* store.createRun({
      experimentId: experiment.experimentId,
      runName,
      userId: "tester",
      startTime,
      tags: []
    })
  })

/** MLflow's stored form of a value: NaN stays NaN here (compared via is_nan), ±Infinity becomes ±max float. */
const clamp = (value: number): number =>
  value === Number.POSITIVE_INFINITY ? MAX_FLOAT : value === Number.NEGATIVE_INFINITY ? -MAX_FLOAT : value

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

  it.effect("gets or creates experiments like MLflow", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = path.join(dir, "mlflow.db")
      const store = yield* openStore(dir)
      const first = yield* store.getOrCreateExperiment("tuning")
      expect(first).toMatchObject({
        experimentId: "1",
        name: "tuning",
        artifactLocation: path.join(dir, "mlruns", "1"),
        lifecycleStage: "active"
      })
      expect(yield* store.getOrCreateExperiment("tuning")).toEqual(first)
      expect((yield* store.getOrCreateExperiment("other")).experimentId).toBe("2")

      query(file, "UPDATE experiments SET lifecycle_stage = 'deleted' WHERE name = 'tuning'")
      const error = yield* Effect.flip(store.getOrCreateExperiment("tuning"))
      expect(error.operation).toBe("getOrCreateExperiment")
      expect(error.reason).toContain("deleted")
      const runError = yield* Effect.flip(
        store.createRun({ experimentId: "1", runName: "r", userId: "u", startTime: 1, tags: [] })
      )
      expect(runError.reason).toContain("'active'")
      expect((yield* Effect.flip(store.getOrCreateExperiment(" "))).reason).toContain("empty")
    })
  )

  it.effect("creates runs with exactly the row MLflow's create_run writes", () =>
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
      expect(run.runId).toMatch(/^[0-9a-f]{32}$/)
      expect(run.artifactUri).toBe(`${experiment.artifactLocation}/${run.runId}/artifacts`)
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

      const conflict = yield* Effect.flip(
        store.createRun({
          experimentId: experiment.experimentId,
          runName: "a",
          userId: "u",
          startTime: 1,
          tags: [{ key: "mlflow.runName", value: "b" }]
        })
      )
      expect(conflict.reason).toContain("different values")
      const missing = yield* Effect.flip(
        store.createRun({ experimentId: "99", runName: "a", userId: "u", startTime: 1, tags: [] })
      )
      expect(missing.reason).toContain("experiment 99 does not exist")
      expect(query(file, "SELECT count(*) AS n FROM runs")).toEqual([{ n: 1 }])

      yield* store.endRun(run.runId, "FINISHED", 5678)
      const data = yield* store.getRun(run.runId)
      expect(data.info).toEqual({ ...run, status: "FINISHED", endTime: 5678 })
    })
  )

  it.effect("params are write-once: a conflict fails the whole batch", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const store = yield* openStore(dir)
      const run = yield* newRun(store, "e", "r")
      yield* store.logBatch(run.runId, { params: [{ key: "lr", value: "0.1" }] })
      // The same value again is fine.
      yield* store.logBatch(run.runId, { params: [{ key: "lr", value: "0.1" }] })
      const error = yield* Effect.flip(
        store.logBatch(run.runId, {
          params: [
            { key: "batch", value: "32" },
            { key: "lr", value: "0.2" }
          ],
          metrics: [{ key: "loss", value: 1, timestamp: 10, step: 0 }],
          tags: [{ key: "t", value: "v" }]
        })
      )
      expect(error.operation).toBe("logBatch")
      expect(error.reason).toContain(`"lr"`)
      expect(error.reason).toContain(`"0.1"`)
      expect(error.reason).toContain(`"0.2"`)
      const data = yield* store.getRun(run.runId)
      expect(data.params).toEqual([{ key: "lr", value: "0.1" }])
      expect(data.tags).toEqual([{ key: "mlflow.runName", value: "r" }])
      expect(data.latestMetrics).toEqual([])
      expect(yield* store.getMetricHistory(run.runId, "loss")).toEqual([])

      const inBatch = yield* Effect.flip(
        store.logBatch(run.runId, {
          params: [
            { key: "x", value: "1" },
            { key: "x", value: "2" }
          ]
        })
      )
      expect(inBatch.reason).toContain(`"x"`)
    })
  )

  it.effect("ignores duplicate metric points and encodes NaN and ±Infinity as MLflow does", () =>
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
      yield* store.logBatch(run.runId, { metrics: points })
      yield* store.logBatch(run.runId, { metrics: points })
      expect(query(file, `SELECT value, timestamp, step, is_nan FROM metrics ORDER BY step`)).toEqual([
        { value: 1.5, timestamp: 100, step: 0, is_nan: 0 },
        { value: 0, timestamp: 101, step: 1, is_nan: 1 },
        { value: MAX_FLOAT, timestamp: 102, step: 2, is_nan: 0 },
        { value: -MAX_FLOAT, timestamp: 103, step: 3, is_nan: 0 }
      ])
      expect(yield* store.getMetricHistory(run.runId, "m")).toEqual([
        { key: "m", value: 1.5, timestamp: 100, step: 0 },
        { key: "m", value: Number.NaN, timestamp: 101, step: 1 },
        { key: "m", value: MAX_FLOAT, timestamp: 102, step: 2 },
        { key: "m", value: -MAX_FLOAT, timestamp: 103, step: 3 }
      ])
      // A point differing only in value is a new point (the key includes the value).
      yield* store.logBatch(run.runId, { metrics: [{ key: "m", value: 2.5, timestamp: 100, step: 0 }] })
      expect((yield* store.getMetricHistory(run.runId, "m")).length).toBe(5)
      const bad = yield* Effect.flip(
        store.logBatch(run.runId, { metrics: [{ key: "m", value: 1, timestamp: 1.5, step: 0 }] })
      )
      expect(bad.reason).toContain("integers")
    })
  )

  it.effect("keeps latest_metrics as the greatest point by (step, timestamp, value)", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = path.join(dir, "mlflow.db")
      const store = yield* openStore(dir)
      const run = yield* newRun(store, "e", "r")
      const latest = () =>
        query<{ value: number; timestamp: number; step: number; is_nan: number }>(
          file,
          `SELECT value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid = ? AND "key" = 'm'`,
          run.runId
        )
      const log = (value: number, timestamp: number, step: number) =>
        store.logBatch(run.runId, { metrics: [{ key: "m", value, timestamp, step }] })

      yield* log(1, 100, 5)
      expect(latest()).toEqual([{ value: 1, timestamp: 100, step: 5, is_nan: 0 }])
      // A lower step logged later (with a later timestamp) does not replace it.
      yield* log(2, 200, 3)
      expect(latest()).toEqual([{ value: 1, timestamp: 100, step: 5, is_nan: 0 }])
      // Same step, later timestamp wins; same step and timestamp, greater value wins; smaller value does not.
      yield* log(0.5, 150, 5)
      expect(latest()).toEqual([{ value: 0.5, timestamp: 150, step: 5, is_nan: 0 }])
      yield* log(0.7, 150, 5)
      expect(latest()).toEqual([{ value: 0.7, timestamp: 150, step: 5, is_nan: 0 }])
      yield* log(0.6, 150, 5)
      expect(latest()).toEqual([{ value: 0.7, timestamp: 150, step: 5, is_nan: 0 }])
      // Within one batch the greatest point wins whatever its position; NaN compares as its stored 0.
      yield* store.logBatch(run.runId, {
        metrics: [
          { key: "m", value: 3, timestamp: 300, step: 9 },
          { key: "m", value: Number.NaN, timestamp: 400, step: 10 },
          { key: "m", value: 4, timestamp: 500, step: 8 }
        ]
      })
      expect(latest()).toEqual([{ value: 0, timestamp: 400, step: 10, is_nan: 1 }])
      const data = yield* store.getRun(run.runId)
      expect(data.latestMetrics).toEqual([{ key: "m", value: Number.NaN, timestamp: 400, step: 10 }])
    })
  )

  it.effect("upserts tags, renames the run through mlflow.runName, and refuses writes to deleted runs", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = path.join(dir, "mlflow.db")
      const store = yield* openStore(dir)
      const run = yield* newRun(store, "e", "r")
      yield* store.logBatch(run.runId, { tags: [{ key: "a", value: "1" }] })
      yield* store.logBatch(run.runId, {
        tags: [
          { key: "a", value: "2" },
          { key: "mlflow.runName", value: "renamed" }
        ]
      })
      const data = yield* store.getRun(run.runId)
      expect(data.tags).toEqual([
        { key: "a", value: "2" },
        { key: "mlflow.runName", value: "renamed" }
      ])
      expect(data.info.runName).toBe("renamed")

      const unknown = yield* Effect.flip(store.logBatch("0".repeat(32), { tags: [{ key: "a", value: "1" }] }))
      expect(unknown.reason).toContain("does not exist")
      query(file, "UPDATE runs SET lifecycle_stage = 'deleted'")
      const deleted = yield* Effect.flip(store.logBatch(run.runId, { tags: [{ key: "a", value: "3" }] }))
      expect(deleted.reason).toContain("'active'")
      expect((yield* Effect.flip(store.endRun(run.runId, "FAILED", 1))).operation).toBe("endRun")
    })
  )

  it.effect("stores artifacts atomically under the run and refuses paths that escape it", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const store = yield* openStore(dir)
      const run = yield* newRun(store, "e", "r")
      expect(yield* store.listArtifacts(run)).toEqual([])
      const source = path.join(dir, "source.yaml")
      fs.writeFileSync(source, "a: 1\n")
      yield* store.putArtifact(run, "config/job.yaml", { _tag: "File", path: source })
      yield* store.putArtifact(run, "logs/./deep//job.log", { _tag: "Bytes", bytes: new TextEncoder().encode("hello") })
      yield* store.putArtifact(run, "logs/deep/job.log", { _tag: "Bytes", bytes: new TextEncoder().encode("hello!") })
      expect(fs.readFileSync(path.join(run.artifactUri, "logs", "deep", "job.log"), "utf8")).toBe("hello!")
      expect(yield* store.listArtifacts(run)).toEqual<ReadonlyArray<ArtifactEntry>>([
        { path: "config", isDir: true, fileSize: null },
        { path: "config/job.yaml", isDir: false, fileSize: 5 },
        { path: "logs", isDir: true, fileSize: null },
        { path: "logs/deep", isDir: true, fileSize: null },
        { path: "logs/deep/job.log", isDir: false, fileSize: 6 }
      ])
      // No temporary file is left behind.
      expect(fs.readdirSync(path.join(run.artifactUri, "logs", "deep"))).toEqual(["job.log"])

      for (const bad of ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "a\\..\\b", "C:/x", "", "./"]) {
        const error = yield* Effect.flip(store.putArtifact(run, bad, { _tag: "Bytes", bytes: new Uint8Array(1) }))
        expect(error.operation).toBe("putArtifact")
      }
      expect(fs.existsSync(path.join(dir, "mlruns", "1", "escape.txt"))).toBe(false)
      const missing = yield* Effect.flip(
        store.putArtifact(run, "x.txt", { _tag: "File", path: path.join(dir, "does-not-exist") })
      )
      expect(missing.reason).toContain("ENOENT")
      expect(fs.existsSync(path.join(run.artifactUri, "x.txt"))).toBe(false)
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
        // The in-process stores (two connections) start right after the children, while they create the file.
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
// Proof by Python mlflow itself

/** Prints, as JSON, what `MlflowClient` reads back for the given experiments (all runs, histories, artifacts). */
const READ_BACK = `
import json, math, sys
from mlflow.tracking import MlflowClient

uri, names = sys.argv[1], json.loads(sys.argv[2])
client = MlflowClient(tracking_uri=uri)

def num(value):
    return "NaN" if isinstance(value, float) and math.isnan(value) else value

def walk(run_id, path=None):
    out = []
    for f in client.list_artifacts(run_id, path):
        out.append({"path": f.path, "isDir": f.is_dir, "fileSize": f.file_size})
        if f.is_dir:
            out.extend(walk(run_id, f.path))
    return out

result = {}
for name in names:
    exp = client.get_experiment_by_name(name)
    runs = {}
    for run in client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"]):
        info = run.info
        runs[info.run_id] = {
            "info": {
                "runId": info.run_id, "runName": info.run_name, "experimentId": info.experiment_id,
                "userId": info.user_id, "status": info.status, "startTime": info.start_time,
                "endTime": info.end_time, "artifactUri": info.artifact_uri, "lifecycleStage": info.lifecycle_stage,
            },
            "params": run.data.params,
            "tags": run.data.tags,
            "latest": {k: num(v) for k, v in run.data.metrics.items()},
            "history": {
                k: sorted(
                    [{"key": m.key, "value": num(m.value), "step": m.step, "timestamp": m.timestamp}
                     for m in client.get_metric_history(info.run_id, k)],
                    key=lambda m: (m["step"], m["timestamp"]),
                )
                for k in run.data.metrics
            },
            "artifacts": walk(info.run_id),
        }
    result[name] = {
        "experiment": {
            "experimentId": exp.experiment_id, "name": exp.name, "artifactLocation": exp.artifact_location,
            "lifecycleStage": exp.lifecycle_stage, "creationTime": exp.creation_time,
            "lastUpdateTime": exp.last_update_time,
        },
        "runs": runs,
    }
print(json.dumps(result))
`

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

type PyNumber = number | "NaN"
interface PyRun {
  readonly info: Record<string, unknown>
  readonly params: Record<string, string>
  readonly tags: Record<string, string>
  readonly latest: Record<string, PyNumber>
  readonly history: Record<string, ReadonlyArray<{ key: string; value: PyNumber; step: number; timestamp: number }>>
  readonly artifacts: ReadonlyArray<ArtifactEntry>
}
type PyReadBack = Record<string, { experiment: Record<string, unknown>; runs: Record<string, PyRun> }>

const readBack = (uri: string, names: ReadonlyArray<string>, cwd: string) =>
  Effect.promise(() => pythonJson<PyReadBack>(READ_BACK, [uri, JSON.stringify(names)], { cwd }))

/** How Python reports a value we logged. */
const asPython = (value: number): PyNumber => (Number.isNaN(value) ? "NaN" : clamp(value))

/** What a store reads back, in the shape of {@link READ_BACK}'s runs. */
const expectedRun = (store: TrackingStore, runId: string, keys: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const data = yield* store.getRun(runId)
    const history: Record<string, ReadonlyArray<{ key: string; value: PyNumber; step: number; timestamp: number }>> = {}
    for (const key of keys) {
      history[key] = (yield* store.getMetricHistory(runId, key)).map((m) => ({ ...m, value: asPython(m.value) }))
    }
    return {
      info: data.info,
      params: Object.fromEntries(data.params.map((p) => [p.key, p.value])),
      tags: Object.fromEntries(data.tags.map((t) => [t.key, t.value])),
      latest: Object.fromEntries(data.latestMetrics.map((m) => [m.key, asPython(m.value)])),
      history,
      artifacts: yield* store.listArtifacts(data.info)
    }
  })

describeInterop("SqliteTrackingStore and Python mlflow", () => {
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
    "Python's MlflowClient reads back everything we write",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const file = path.join(dir, "mlflow.db")
        const store = yield* openStore(dir)
        const experiment = yield* store.getOrCreateExperiment("interop")
        const run = yield* store.createRun({
          experimentId: experiment.experimentId,
          runName: "trial-1",
          userId: "alice",
          startTime: 1_700_000_000_123,
          tags: [
            { key: "job.kind", value: "tuning" },
            { key: "mlflow.user", value: "alice" }
          ]
        })
        const keys = ["loss", "acc", "lr"]
        const special: Record<string, Record<number, number>> = {
          loss: { 40: Number.NaN, 99: Number.NaN },
          acc: { 50: Number.POSITIVE_INFINITY },
          lr: { 20: Number.NEGATIVE_INFINITY }
        }
        const metrics: Array<Metric> = []
        for (let step = 0; step < 100; step++) {
          keys.forEach((key, k) => {
            metrics.push({
              key,
              value: special[key]?.[step] ?? (k + 1) / (step + 1),
              timestamp: 1_700_000_001_000 + step * 10 + k,
              step
            })
          })
        }
        for (let i = 0; i < metrics.length; i += 70) {
          yield* store.logBatch(run.runId, {
            metrics: metrics.slice(i, i + 70),
            ...(i === 0
              ? {
                  params: [
                    { key: "lr", value: "0.001" },
                    { key: "optimizer", value: "adam" }
                  ],
                  tags: [{ key: "host", value: "box" }]
                }
              : {})
          })
        }
        yield* store.putArtifact(run, "config/job.yaml", { _tag: "Bytes", bytes: new TextEncoder().encode("a: 1\n") })
        yield* store.putArtifact(run, "model.txt", { _tag: "Bytes", bytes: new TextEncoder().encode("weights") })
        yield* store.endRun(run.runId, "FINISHED", 1_700_000_009_999)

        const python = yield* readBack(uriOf(file), ["interop"], dir)
        const mine = yield* expectedRun(store, run.runId, keys)
        const theirs = python.interop!
        expect(theirs.experiment).toEqual(experiment)
        expect(Object.keys(theirs.runs)).toEqual([run.runId])
        const pyRun = theirs.runs[run.runId]!
        expect(pyRun.info).toEqual({ ...mine.info, status: "FINISHED", endTime: 1_700_000_009_999 })
        expect(pyRun.params).toEqual({ lr: "0.001", optimizer: "adam" })
        expect(pyRun.tags).toEqual({
          "job.kind": "tuning",
          "mlflow.user": "alice",
          host: "box",
          "mlflow.runName": "trial-1"
        })
        expect(pyRun.latest).toEqual({ loss: "NaN", acc: 2 / 100, lr: 3 / 100 })
        expect(pyRun.latest).toEqual(mine.latest)
        for (const key of keys) {
          const logged = metrics
            .filter((m) => m.key === key)
            .map((m) => ({ key, value: asPython(m.value), step: m.step, timestamp: m.timestamp }))
          expect(pyRun.history[key]).toEqual(logged)
          expect(mine.history[key]).toEqual(logged)
        }
        expect(pyRun.artifacts).toEqual([
          { path: "config", isDir: true, fileSize: null },
          { path: "config/job.yaml", isDir: false, fileSize: 5 },
          { path: "model.txt", isDir: false, fileSize: 7 }
        ])
        expect(pyRun.artifacts).toEqual(mine.artifacts)
      }),
    90_000
  )

  it.live(
    "appends to a database Python created, and Python still reads everything",
    () =>
      Effect.gen(function* () {
        const dir = tempDir()
        const file = path.join(dir, "mlflow.db")
        const uri = uriOf(file)
        const created = yield* Effect.promise(() =>
          pythonJson<{ experimentId: string; runId: string }>(
            `
import json, sys
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric, Param, RunTag
client = MlflowClient(tracking_uri=sys.argv[1])
exp_id = client.create_experiment("py-exp")
run = client.create_run(exp_id, run_name="py-run", tags={"origin": "python"}, start_time=1700000000000)
rid = run.info.run_id
client.log_batch(rid, metrics=[Metric("loss", 1.0 / (i + 1), 1700000000100 + i, i) for i in range(10)],
                 params=[Param("lr", "0.1")], tags=[RunTag("k", "v")])
client.log_text(rid, "hello", "notes/hello.txt")
client.set_terminated(rid, "FINISHED", end_time=1700000000999)
print(json.dumps({"experimentId": exp_id, "runId": rid}))
`,
            [uri],
            { cwd: dir }
          )
        )
        const store = yield* openStore(dir)
        const pyExperiment = yield* store.getOrCreateExperiment("py-exp")
        expect(pyExperiment.experimentId).toBe(created.experimentId)
        expect(pyExperiment.artifactLocation).toBe(path.join(dir, "mlruns", created.experimentId))
        const pyRun = yield* store.getRun(created.runId)
        expect(pyRun.info).toMatchObject({ runName: "py-run", status: "FINISHED", endTime: 1_700_000_000_999 })
        expect(pyRun.params).toEqual([{ key: "lr", value: "0.1" }])
        expect(pyRun.latestMetrics).toEqual([{ key: "loss", value: 0.1, timestamp: 1_700_000_000_109, step: 9 }])
        expect(yield* store.listArtifacts(pyRun.info)).toEqual([
          { path: "notes", isDir: true, fileSize: null },
          { path: "notes/hello.txt", isDir: false, fileSize: 5 }
        ])
        // Params written by Python are write-once for us too.
        const conflict = yield* Effect.flip(store.logBatch(created.runId, { params: [{ key: "lr", value: "0.2" }] }))
        expect(conflict.reason).toContain(`"lr"`)

        const ourRun = yield* store.createRun({
          experimentId: pyExperiment.experimentId,
          runName: "ts-run",
          userId: "bob",
          startTime: 1_700_000_001_000,
          tags: []
        })
        yield* store.logBatch(ourRun.runId, {
          metrics: [
            { key: "loss", value: 0.5, timestamp: 1_700_000_001_100, step: 0 },
            { key: "loss", value: 0.25, timestamp: 1_700_000_001_200, step: 1 }
          ],
          params: [{ key: "lr", value: "0.2" }]
        })
        yield* store.endRun(ourRun.runId, "FAILED", 1_700_000_001_999)
        const tsExperiment = yield* store.getOrCreateExperiment("ts-exp")
        expect(Number(tsExperiment.experimentId)).toBe(Number(created.experimentId) + 1)
        const tsRun = yield* store.createRun({
          experimentId: tsExperiment.experimentId,
          runName: "ts-only",
          userId: "bob",
          startTime: 1_700_000_002_000,
          tags: [{ key: "t", value: "1" }]
        })
        yield* store.putArtifact(tsRun, "a/b.txt", { _tag: "Bytes", bytes: new TextEncoder().encode("b") })

        const python = yield* readBack(uri, ["py-exp", "ts-exp"], dir)
        expect(Object.keys(python["py-exp"]!.runs)).toEqual([created.runId, ourRun.runId])
        const theirs = python["py-exp"]!.runs
        expect(theirs[created.runId]).toMatchObject({
          info: { runName: "py-run", status: "FINISHED", userId: expect.any(String) },
          params: { lr: "0.1" },
          tags: { origin: "python", k: "v", "mlflow.runName": "py-run" },
          latest: { loss: 0.1 },
          artifacts: [
            { path: "notes", isDir: true, fileSize: null },
            { path: "notes/hello.txt", isDir: false, fileSize: 5 }
          ]
        })
        expect(theirs[created.runId]!.history.loss).toHaveLength(10)
        expect(theirs[ourRun.runId]).toEqual(yield* expectedRun(store, ourRun.runId, ["loss"]))
        expect(theirs[ourRun.runId]!.info).toMatchObject({ status: "FAILED", endTime: 1_700_000_001_999 })
        expect(python["ts-exp"]!.experiment).toEqual(tsExperiment)
        expect(python["ts-exp"]!.runs[tsRun.runId]).toEqual(yield* expectedRun(store, tsRun.runId, []))
        expect(python["ts-exp"]!.runs[tsRun.runId]!.artifacts).toEqual([
          { path: "a", isDir: true, fileSize: null },
          { path: "a/b.txt", isDir: false, fileSize: 1 }
        ])
      }),
    90_000
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
        yield* store.putArtifact(run, "out/result.json", { _tag: "Bytes", bytes: new TextEncoder().encode("{}") })
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
