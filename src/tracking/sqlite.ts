/**
 * The embedded tracking store: a SQLite file in exactly the schema Python `mlflow` 3.18.0 creates, so that
 * `MlflowClient(tracking_uri="sqlite:///…")`, `mlflow ui` and `mlflow server` read what we write, and we can
 * append to a database Python created.
 *
 * Why not run MLflow's alembic migrations: they take seconds on a fresh file. The final schema is generated
 * once from Python mlflow into {@link SCHEMA_DDL} (see `test/harness/dump_schema.py`) and created here in one
 * transaction; existing files are accepted only at that exact alembic revision.
 *
 * Every public operation is one SQLite transaction (only `getOrCreateExperiment` first tries a plain read, so
 * finding an existing experiment takes no write lock), over statements prepared on first use, once per
 * connection; a process's stores of one file share a connection.
 * Write transactions start with `BEGIN IMMEDIATE`, so with WAL and a busy timeout several processes can log to
 * one file: a writer waits for the lock instead of failing on a stale read snapshot.
 *
 * @module
 */

import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import * as fsp from "node:fs/promises"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import Database from "better-sqlite3"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import {
  DEFAULT_EXPERIMENT,
  KNOWN_REVISIONS,
  MLFLOW_VERSION,
  SCHEMA_DDL,
  SCHEMA_REVISION,
  SEED_ROWS
} from "./sqlite-schema.js"
import { type SqliteLocation, sqliteLocation } from "./sqlite-uri.js"
import {
  type ArtifactEntry,
  type ArtifactSource,
  type CreateRunInput,
  type Experiment,
  type LogBatch,
  type Metric,
  type Param,
  type RunData,
  type RunInfo,
  type RunStatus,
  type Tag,
  TrackingError,
  type TrackingStore
} from "./store.js"
import { artifactPathSegments, MlflowValidationError } from "./validation.js"

export type { SqliteLocation } from "./sqlite-uri.js"

/** Options of {@link makeSqliteStore}. */
export interface SqliteStoreOptions {
  /** `sqlite:///relative.db` (against the working directory) or `sqlite:////absolute.db`, as MLflow reads them. */
  readonly uri: string
  /**
   * Where new experiments put their artifacts (`<artifactRoot>/<experiment id>`); relative paths are resolved
   * against the working directory. Default `./mlruns`, as MLflow's own client.
   */
  readonly artifactRoot?: string | undefined
  /** How long to wait for another connection's write lock before failing with a {@link TrackingError}; 5000 ms. */
  readonly busyTimeoutMs?: number | undefined
}

/** How long a writer waits for another process's write lock before failing, by default. */
const BUSY_TIMEOUT_MS = 5000
/** What MLflow stores for ±Infinity, because SQL has no infinite floats (`sanitize_metric_value`). */
const MAX_FLOAT = 1.7976931348623157e308
const RUN_STATUSES: ReadonlyArray<RunStatus> = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
const RUN_NAME_TAG = "mlflow.runName"

/** {@link sqliteLocation}, failing with a {@link TrackingError} that says why the URI is not one. */
export const parseSqliteUri = (
  uri: string,
  cwd: string = process.cwd()
): Effect.Effect<SqliteLocation, TrackingError> =>
  Effect.suspend(() => {
    const location = sqliteLocation(uri, cwd)
    return typeof location === "string"
      ? Effect.fail(new TrackingError({ operation: "open", uri, reason: location }))
      : Effect.succeed(location)
  })

/**
 * Opens (creating if needed) the MLflow database behind a `sqlite:` URI as a {@link TrackingStore}; the
 * connection is closed when the scope closes.
 *
 * A new or empty file gets MLflow 3.18.0's complete schema and seed rows (the `default` workspace, the
 * `Default` experiment 0) in one `BEGIN IMMEDIATE` transaction, so processes racing to create the same file
 * all succeed. An existing file must be at alembic revision {@link SCHEMA_REVISION}: an older known revision
 * asks for `mlflow db upgrade`, an unknown one is reported as written by a newer MLflow, and a SQLite file
 * without `alembic_version` is refused as not an MLflow database.
 *
 * @example
 * ```ts
 * const program = Effect.scoped(Effect.gen(function*() {
 *   const store = yield* makeSqliteStore({ uri: "sqlite:///mlflow.db" })
 *   const experiment = yield* store.getOrCreateExperiment("tuning")
 *   const run = yield* store.createRun({
 *     experimentId: experiment.experimentId, runName: "trial-1", userId: "me", startTime: Date.now(), tags: []
 *   })
 *   yield* store.logBatch(run.runId, { metrics: [{ key: "loss", value: 0.5, timestamp: Date.now(), step: 0 }] })
 *   yield* store.endRun(run.runId, "FINISHED", Date.now())
 * }))
 * ```
 */
export const makeSqliteStore = (
  options: SqliteStoreOptions
): Effect.Effect<TrackingStore, TrackingError, Scope.Scope> =>
  Effect.gen(function* () {
    const uri = options.uri
    const target: Target = { uri, busyTimeoutMs: options.busyTimeoutMs ?? BUSY_TIMEOUT_MS }
    const location = yield* parseSqliteUri(uri)
    const artifactRoot = path.resolve(options.artifactRoot ?? "mlruns")
    const now = yield* Clock.currentTimeMillis
    const connection = yield* Effect.acquireRelease(
      attempt("open", target, () => acquireConnection(location, artifactRoot, now, target.busyTimeoutMs)),
      (connection) => Effect.sync(() => releaseConnection(connection))
    )
    return makeStore(connection.db, target, artifactRoot)
  })

// ---------------------------------------------------------------------------------------------------------------
// Native wrappers

// better-sqlite3 12 on Node 24 aborts the process (`Assertion failed: (env) != nullptr` in
// RemoveEnvironmentCleanupHook) when a garbage-collection pass outside any JS context destroys a Database or
// Statement wrapper (upstream issue WiseLibs/better-sqlite3#1515, fixed only in 13, which crashes on Node 20).
// So no wrapper is ever collected: each is kept reachable for the life of the process. A closed database has
// released its SQLite resources; what stays is a small wrapper per statement used, once per connection.
const keptAlive: Array<object> = []

const keepAlive = <T extends object>(wrapper: T): T => {
  keptAlive.push(wrapper)
  return wrapper
}

// Statements by SQL text, per connection: a pooled connection serves many stores, and each would otherwise
// prepare (and, see above, keep forever) its own copy of every statement.
const statements = new WeakMap<Database.Database, Map<string, Database.Statement<Array<unknown>, unknown>>>()

/**
 * `db.prepare`, once per connection and SQL text, with the statement kept alive (see above). Every statement of
 * this module goes through it. Statements are only run whole (`run`, `get`, `all`), so sharing one is safe.
 */
const prepare = <P extends Array<unknown> = Array<unknown>, R = unknown>(
  db: Database.Database,
  source: string
): Database.Statement<P, R> => {
  let cache = statements.get(db)
  if (cache === undefined) {
    cache = new Map()
    statements.set(db, cache)
  }
  let statement = cache.get(source)
  if (statement === undefined) {
    statement = keepAlive(db.prepare<Array<unknown>, unknown>(source))
    cache.set(source, statement)
  }
  return statement as unknown as Database.Statement<P, R>
}

/**
 * An object whose properties are statements prepared on first access, each once: `sql.name.run(…)` reads
 * like an eagerly prepared statement.
 */
const lazyStatements = <T extends Record<string, () => object>>(
  factories: T
): { readonly [K in keyof T]: ReturnType<T[K]> } => {
  const statements: Partial<Record<keyof T, object>> = {}
  const lazy = {}
  for (const key of Object.keys(factories) as Array<keyof T>) {
    Object.defineProperty(lazy, key, { get: () => (statements[key] ??= factories[key]!()) })
  }
  return lazy as { readonly [K in keyof T]: ReturnType<T[K]> }
}

/** `db.pragma`, which would prepare a statement behind our back, through {@link prepare}. */
const pragma = (db: Database.Database, source: string): unknown => {
  const statement = prepare(db, `PRAGMA ${source}`)
  return statement.reader ? statement.get() : statement.run()
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

/** A refusal decided by the store itself (not SQLite): its message is the reason shown to the user. */
class Refusal extends Error {}

const refuse = (reason: string): never => {
  throw new Refusal(reason)
}

const errorCode = (cause: unknown): string | undefined =>
  cause instanceof Database.SqliteError
    ? cause.code
    : cause instanceof Error && "code" in cause && typeof cause.code === "string"
      ? cause.code
      : undefined

/** What errors name: the store's URI, and the busy timeout a lock error waited for. */
interface Target {
  readonly uri: string
  readonly busyTimeoutMs: number
}

const toTrackingError = (operation: string, { uri, busyTimeoutMs }: Target, cause: unknown): TrackingError => {
  if (cause instanceof TrackingError) return cause
  if (cause instanceof Refusal) return new TrackingError({ operation, uri, reason: cause.message })
  const code = errorCode(cause)
  const message = cause instanceof Error ? cause.message : String(cause)
  const reason = code?.startsWith("SQLITE_BUSY")
    ? `the database stayed locked by another writer for more than ${busyTimeoutMs} ms (${message})`
    : code === "SQLITE_NOTADB"
      ? `the file is not a SQLite database (${message})`
      : message
  return new TrackingError({ operation, uri, reason, cause })
}

/** Runs synchronous database work, turning anything it throws into a {@link TrackingError}. */
const attempt = <A>(operation: string, target: Target, work: () => A): Effect.Effect<A, TrackingError> =>
  Effect.try({ try: work, catch: (cause) => toTrackingError(operation, target, cause) })

// ---------------------------------------------------------------------------------------------------------------
// Opening: create or verify the schema

const quoteIdent = (name: string): string => `"${name.replaceAll('"', '""')}"`

/**
 * MLflow's `append_to_uri_path`: joins POSIX segments onto the path of a plain path or of a URI, keeping a URI's
 * query and fragment after the path.
 */
const appendToUriPath = (uri: string, ...segments: ReadonlyArray<string>): string => {
  const suffix = segments.join("/")
  const join = (prefix: string) =>
    prefix === "" ? suffix : prefix.endsWith("/") ? prefix + suffix : `${prefix}/${suffix}`
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(uri)) return join(uri)
  const end = uri.search(/[?#]/)
  return end === -1 ? join(uri) : join(uri.slice(0, end)) + uri.slice(end)
}

const tableNames = (db: Database.Database): ReadonlyArray<string> =>
  prepare<[], { name: string }>(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    .all()
    .map((row) => row.name)

/** Creates every table, index and trigger plus MLflow's seed rows, unless another process got there first. */
const createSchema = (db: Database.Database, artifactRoot: string, now: number): void => {
  // Re-checked under the write lock: a racing process may have created the schema since we looked.
  if (tableNames(db).length > 0) return
  for (const statement of SCHEMA_DDL) db.exec(statement)
  prepare(db, "INSERT INTO alembic_version (version_num) VALUES (?)").run(SCHEMA_REVISION)
  for (const seed of SEED_ROWS) {
    const columns = seed.columns.map(quoteIdent).join(", ")
    const placeholders = seed.columns.map(() => "?").join(", ")
    prepare(db, `INSERT INTO ${quoteIdent(seed.table)} (${columns}) VALUES (${placeholders})`).run(...seed.values)
  }
  prepare(
    db,
    `INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time,
       last_update_time, workspace) VALUES (?, ?, ?, ?, ?, ?, ?)`
  ).run(
    DEFAULT_EXPERIMENT.experimentId,
    DEFAULT_EXPERIMENT.name,
    appendToUriPath(artifactRoot, String(DEFAULT_EXPERIMENT.experimentId)),
    DEFAULT_EXPERIMENT.lifecycleStage,
    now,
    now,
    DEFAULT_EXPERIMENT.workspace
  )
}

/** Accepts the database only at the exact revision whose schema we write; explains every other case. */
const verifyRevision = (db: Database.Database, uri: string): void => {
  const tables = tableNames(db)
  if (!tables.includes("alembic_version")) {
    const shown = tables.slice(0, 8).join(", ") + (tables.length > 8 ? ", …" : "")
    refuse(
      `this SQLite file is not an MLflow tracking database (it has tables ${shown} but no alembic_version); ` +
        "point the tracking URI at a new file or at a database created by MLflow"
    )
  }
  const revisions = prepare<[], { version_num: string }>(db, "SELECT version_num FROM alembic_version")
    .all()
    .map((row) => row.version_num)
  const [revision] = revisions
  if (revision === undefined || revisions.length > 1) {
    refuse(
      `alembic_version holds ${revisions.length === 0 ? "no revision" : `several revisions (${revisions.join(", ")})`}` +
        `; expected exactly ${SCHEMA_REVISION} (MLflow ${MLFLOW_VERSION}). An interrupted \`mlflow db upgrade\` can ` +
        `leave this state: restore a backup or run \`mlflow db upgrade ${uri}\``
    )
  }
  if (revision === SCHEMA_REVISION) return
  if (KNOWN_REVISIONS.includes(revision!)) {
    refuse(
      `the database schema is at revision ${revision}, older than ${SCHEMA_REVISION} which MLflow ${MLFLOW_VERSION} ` +
        `uses; take a backup, then run \`mlflow db upgrade ${uri}\` (with mlflow==${MLFLOW_VERSION})`
    )
  }
  refuse(
    `the database schema is at revision ${revision}, which MLflow ${MLFLOW_VERSION} does not know: it was written ` +
      `by a newer MLflow than ${MLFLOW_VERSION}. This store writes MLflow ${MLFLOW_VERSION}'s schema ` +
      `(revision ${SCHEMA_REVISION}) and will not write to a newer one; use a separate database file`
  )
}

/** Blocks the thread like SQLite's own busy handler does; open is synchronous and short. */
const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/**
 * Switches the file to WAL. Two connections switching a new file at once can deadlock on the lock upgrade, and
 * SQLite then fails one of them at once with SQLITE_BUSY instead of calling the busy handler; that one retries.
 */
const enableWal = (db: Database.Database, busyTimeoutMs: number): void => {
  const deadline = Date.now() + busyTimeoutMs
  for (;;) {
    try {
      pragma(db, "journal_mode = WAL")
      return
    } catch (error) {
      if (!errorCode(error)?.startsWith("SQLITE_BUSY") || Date.now() >= deadline) throw error
      sleepSync(5 + Math.random() * 20)
    }
  }
}

const openDatabase = (
  location: SqliteLocation,
  artifactRoot: string,
  now: number,
  busyTimeoutMs: number
): Database.Database => {
  const db = keepAlive(new Database(location._tag === "File" ? location.path : ":memory:", { timeout: busyTimeoutMs }))
  try {
    pragma(db, `busy_timeout = ${Math.max(0, Math.round(busyTimeoutMs))}`)
    if (location._tag === "File") {
      // Readers never block the writer and vice versa, so concurrent jobs (and `mlflow ui`) can share the file.
      enableWal(db, busyTimeoutMs)
      // In WAL mode NORMAL cannot corrupt the database; it only skips the fsync of each commit, which would
      // dominate the cost of frequent small metric batches.
      pragma(db, "synchronous = NORMAL")
    }
    // As MLflow's own sessions do: references between runs, experiments and metrics are enforced.
    pragma(db, "foreign_keys = ON")
    if (tableNames(db).length === 0) {
      db.transaction(() => createSchema(db, artifactRoot, now)).immediate()
    }
    verifyRevision(db, location._tag === "File" ? `sqlite:///${location.path}` : "sqlite://")
    return db
  } catch (error) {
    db.close()
    throw error
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Connections

/** A connection to a database file, shared by the stores of this process that use that file. */
interface Connection {
  readonly db: Database.Database
  /** Its key in {@link pool}; `undefined` for an in-memory database, which is never shared. */
  readonly key: string | undefined
  /** Device and inode of the file it opened: a file deleted or replaced since is not this connection's any more. */
  readonly identity: string | undefined
  users: number
}

// Opening a file costs more than a short job's whole run: WAL set-up, schema check, statements, and on close a
// checkpoint of the WAL into the file. So a connection outlives its store: the next store on the same file (a
// job run after another, a child run) takes it over. Idle ones beyond a few are closed, oldest first; the rest
// are closed, and checkpointed, when the process exits. Runs, transactions and errors stay per store; only
// the SQLite handle is shared, and better-sqlite3 runs every statement and transaction to its end at once.
const pool = new Map<string, Connection>()
const maxIdleConnections = 4
let closesOnExit = false

const fileIdentity = (file: string): string | undefined => {
  try {
    const stats = fs.statSync(file)
    return `${stats.dev}:${stats.ino}`
  } catch {
    return undefined
  }
}

const closeIdle = (keep: number): void => {
  const idle = [...pool.values()].filter((connection) => connection.users === 0)
  // Map order is insertion order, and a reused connection is re-inserted: the first idle ones are the oldest.
  for (const connection of idle.slice(0, Math.max(0, idle.length - keep))) {
    pool.delete(connection.key!)
    connection.db.close()
  }
}

const acquireConnection = (
  location: SqliteLocation,
  artifactRoot: string,
  now: number,
  busyTimeoutMs: number
): Connection => {
  if (location._tag === "Memory") {
    return {
      db: openDatabase(location, artifactRoot, now, busyTimeoutMs),
      key: undefined,
      identity: undefined,
      users: 1
    }
  }
  const key = `${busyTimeoutMs} ${location.path}`
  const existing = pool.get(key)
  if (existing !== undefined) {
    pool.delete(key)
    const sameFile = existing.identity !== undefined && existing.identity === fileIdentity(location.path)
    try {
      if (sameFile) {
        // Another process may have migrated the file since: checked on every open, as a new connection would.
        verifyRevision(existing.db, `sqlite:///${location.path}`)
        existing.users += 1
        pool.set(key, existing)
        return existing
      }
    } finally {
      if (existing.users === 0 && pool.get(key) !== existing) existing.db.close()
    }
  }
  if (!closesOnExit) {
    closesOnExit = true
    process.once("exit", () => {
      for (const connection of pool.values()) if (connection.db.open) connection.db.close()
    })
  }
  // Only a new connection needs the directory: a pooled one was just found on the same file.
  fs.mkdirSync(path.dirname(location.path), { recursive: true })
  const db = openDatabase(location, artifactRoot, now, busyTimeoutMs)
  const connection: Connection = { db, key, identity: fileIdentity(location.path), users: 1 }
  pool.set(key, connection)
  return connection
}

const releaseConnection = (connection: Connection): void => {
  connection.users -= 1
  if (connection.users > 0) return
  if (connection.key === undefined || pool.get(connection.key) !== connection) connection.db.close()
  else closeIdle(maxIdleConnections)
}

// ---------------------------------------------------------------------------------------------------------------
// The store

interface ExperimentRow {
  readonly experiment_id: number
  readonly name: string
  readonly artifact_location: string | null
  readonly lifecycle_stage: string | null
  readonly creation_time: number | null
  readonly last_update_time: number | null
}

interface RunRow {
  readonly run_uuid: string
  readonly name: string | null
  readonly experiment_id: number
  readonly user_id: string | null
  readonly status: string | null
  readonly start_time: number | null
  readonly end_time: number | null
  readonly artifact_uri: string | null
  readonly lifecycle_stage: string | null
}

interface MetricRow {
  readonly key: string
  readonly value: number
  readonly timestamp: number
  readonly step: number
  readonly is_nan: number
}

interface KeyValueRow {
  readonly key: string
  readonly value: string | null
}

/** A metric as MLflow stores it: NaN as value 0 with `is_nan`, ±Infinity clamped to ±max float. */
interface StoredMetric {
  readonly key: string
  readonly value: number
  readonly timestamp: number
  readonly step: number
  readonly isNan: 0 | 1
}

const sanitizeMetric = (metric: Metric): StoredMetric => {
  const { key, value, timestamp, step } = metric
  if (Number.isNaN(value)) return { key, value: 0, timestamp, step, isNan: 1 }
  if (value === Number.POSITIVE_INFINITY) return { key, value: MAX_FLOAT, timestamp, step, isNan: 0 }
  if (value === Number.NEGATIVE_INFINITY) return { key, value: -MAX_FLOAT, timestamp, step, isNan: 0 }
  return { key, value, timestamp, step, isNan: 0 }
}

/** `_update_latest_metrics_if_necessary`: the latest point is the greatest by (step, timestamp, value). */
const isMoreRecent = (a: StoredMetric, b: StoredMetric): boolean =>
  a.step !== b.step ? a.step > b.step : a.timestamp !== b.timestamp ? a.timestamp > b.timestamp : a.value > b.value

const decodeMetric = (row: MetricRow): Metric => ({
  key: row.key,
  value: row.is_nan === 1 ? Number.NaN : row.value,
  timestamp: row.timestamp,
  step: row.step
})

const toExperiment = (row: ExperimentRow): Experiment => ({
  experimentId: String(row.experiment_id),
  name: row.name,
  artifactLocation: row.artifact_location ?? "",
  lifecycleStage: row.lifecycle_stage === "deleted" ? "deleted" : "active",
  creationTime: row.creation_time ?? 0,
  lastUpdateTime: row.last_update_time ?? 0
})

const toRunInfo = (row: RunRow): RunInfo => {
  const status = RUN_STATUSES.find((s) => s === row.status)
  return {
    runId: row.run_uuid,
    runName: row.name ?? "",
    experimentId: String(row.experiment_id),
    userId: row.user_id ?? "",
    status: status ?? refuse(`run ${row.run_uuid} has an unknown status ${JSON.stringify(row.status)}`),
    startTime: row.start_time ?? 0,
    endTime: row.end_time,
    artifactUri: row.artifact_uri ?? "",
    lifecycleStage: row.lifecycle_stage === "deleted" ? "deleted" : "active"
  }
}

const toKeyValues = (rows: ReadonlyArray<KeyValueRow>): ReadonlyArray<Param | Tag> =>
  rows.map((row) => ({ key: row.key, value: row.value ?? "" }))

const parseExperimentId = (experimentId: string): number =>
  /^\d+$/.test(experimentId) && Number.isSafeInteger(Number(experimentId))
    ? Number(experimentId)
    : refuse(`experiment id ${JSON.stringify(experimentId)} is not an integer`)

const checkMetricCoordinates = (metric: Metric): void => {
  if (!Number.isSafeInteger(metric.step) || !Number.isSafeInteger(metric.timestamp)) {
    refuse(
      `metric ${JSON.stringify(metric.key)}: step (${metric.step}) and timestamp (${metric.timestamp}) must be integers`
    )
  }
  if (typeof metric.value !== "number") refuse(`metric ${JSON.stringify(metric.key)}: the value is not a number`)
}

/** Metric rows one INSERT writes; a batch's remainder goes row by row, so there are two statements only. */
const metricRowsPerInsert = 100

const makeStore = (db: Database.Database, target: Target, artifactRoot: string): TrackingStore => {
  // Prepared on first use: a job uses a handful of these, and preparing all of them made up a sixth of a
  // short job's time (and every prepared wrapper stays alive, see keepAlive).
  const sql = lazyStatements({
    experimentByName: () =>
      prepare<[string], ExperimentRow>(
        db,
        `SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time
       FROM experiments WHERE name = ? ORDER BY experiment_id LIMIT 1`
      ),
    experimentById: () =>
      prepare<[number], ExperimentRow>(
        db,
        `SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time
       FROM experiments WHERE experiment_id = ?`
      ),
    insertExperiment: () =>
      prepare<[string, number, number, string]>(
        db,
        `INSERT INTO experiments (name, artifact_location, lifecycle_stage, creation_time, last_update_time, workspace)
       VALUES (?, NULL, 'active', ?, ?, ?)`
      ),
    setExperimentLocation: () =>
      prepare<[string, number]>(db, "UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?"),
    insertRun: () =>
      prepare<[string, string, string, number, string, number]>(
        db,
        `INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id, status, start_time,
         end_time, deleted_time, source_version, lifecycle_stage, artifact_uri, experiment_id)
       VALUES (?, ?, 'UNKNOWN', '', '', ?, 'RUNNING', ?, NULL, NULL, '', 'active', ?, ?)`
      ),
    runById: () =>
      prepare<[string], RunRow>(
        db,
        `SELECT run_uuid, name, experiment_id, user_id, status, start_time, end_time, artifact_uri, lifecycle_stage
       FROM runs WHERE run_uuid = ?`
      ),
    setRunEnd: () =>
      prepare<[string, number, string]>(db, "UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?"),
    setRunName: () => prepare<[string, string]>(db, "UPDATE runs SET name = ? WHERE run_uuid = ?"),
    upsertTag: () =>
      prepare<[string, string, string]>(
        db,
        `INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)
       ON CONFLICT ("key", run_uuid) DO UPDATE SET value = excluded.value`
      ),
    paramValue: () =>
      prepare<[string, string], { value: string }>(db, `SELECT value FROM params WHERE run_uuid = ? AND "key" = ?`),
    insertParam: () =>
      prepare<[string, string, string]>(db, `INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)`),
    // Only a repeat of the full primary key is skipped; other constraint failures still fail the batch.
    insertMetric: () =>
      prepare<[string, number, number, string, number, number]>(
        db,
        `INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT ("key", timestamp, step, run_uuid, value, is_nan) DO NOTHING`
      ),
    insertMetrics: () =>
      prepare<Array<string | number>>(
        db,
        `INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan)
         VALUES ${Array.from({ length: metricRowsPerInsert }, () => "(?, ?, ?, ?, ?, ?)").join(", ")}
         ON CONFLICT ("key", timestamp, step, run_uuid, value, is_nan) DO NOTHING`
      ),
    latestMetric: () =>
      prepare<[string, string], MetricRow>(
        db,
        `SELECT "key", value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid = ? AND "key" = ?`
      ),
    upsertLatestMetric: () =>
      prepare<[string, number, number, number, number, string]>(
        db,
        `INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT ("key", run_uuid) DO UPDATE SET
         value = excluded.value, timestamp = excluded.timestamp, step = excluded.step, is_nan = excluded.is_nan`
      ),
    paramsOfRun: () =>
      prepare<[string], KeyValueRow>(db, `SELECT "key", value FROM params WHERE run_uuid = ? ORDER BY "key"`),
    tagsOfRun: () =>
      prepare<[string], KeyValueRow>(db, `SELECT "key", value FROM tags WHERE run_uuid = ? ORDER BY "key"`),
    latestMetricsOfRun: () =>
      prepare<[string], MetricRow>(
        db,
        `SELECT "key", value, timestamp, step, is_nan FROM latest_metrics WHERE run_uuid = ? ORDER BY "key"`
      ),
    metricHistory: () =>
      prepare<[string, string], MetricRow>(
        db,
        `SELECT "key", value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ? AND "key" = ?
       ORDER BY step, timestamp, value`
      )
  })

  const activeRun = (runId: string): RunRow => {
    const run = sql.runById.get(runId) ?? refuse(`run ${runId} does not exist`)
    if (run.lifecycle_stage !== "active") {
      refuse(`run ${runId} must be in the 'active' state; it is ${run.lifecycle_stage ?? "unknown"}`)
    }
    return run
  }

  const createExperiment = db.transaction((name: string, now: number): ExperimentRow => {
    const existing = sql.experimentByName.get(name)
    if (existing !== undefined) return existing
    const id = Number(sql.insertExperiment.run(name, now, now, DEFAULT_EXPERIMENT.workspace).lastInsertRowid)
    // Like MLflow: the id is only known after the insert, and the default location derives from it.
    sql.setExperimentLocation.run(appendToUriPath(artifactRoot, String(id)), id)
    return sql.experimentById.get(id) ?? refuse(`experiment ${id} vanished after its creation`)
  })

  const createRun = db.transaction((input: CreateRunInput, runId: string): RunRow => {
    const experimentId = parseExperimentId(input.experimentId)
    const experiment = sql.experimentById.get(experimentId) ?? refuse(`experiment ${experimentId} does not exist`)
    if (experiment.lifecycle_stage !== "active") {
      refuse(`experiment ${experimentId} must be in the 'active' state; it is ${experiment.lifecycle_stage}`)
    }
    const tagged = input.tags.filter((tag) => tag.key === RUN_NAME_TAG).at(-1)?.value
    if (input.runName !== "" && tagged !== undefined && tagged !== "" && tagged !== input.runName) {
      refuse(
        `both the run name (${JSON.stringify(input.runName)}) and the ${RUN_NAME_TAG} tag ` +
          `(${JSON.stringify(tagged)}) are given, with different values`
      )
    }
    const runName = input.runName !== "" ? input.runName : (tagged ?? "")
    if (runName === "") refuse("a run needs a name (runName or the mlflow.runName tag)")
    const artifactUri = appendToUriPath(experiment.artifact_location ?? "", runId, "artifacts")
    sql.insertRun.run(runId, runName, input.userId, input.startTime, artifactUri, experimentId)
    for (const tag of input.tags) sql.upsertTag.run(tag.key, tag.value, runId)
    if (tagged === undefined || tagged === "") sql.upsertTag.run(RUN_NAME_TAG, runName, runId)
    return sql.runById.get(runId) ?? refuse(`run ${runId} vanished after its creation`)
  })

  const logBatch = db.transaction((runId: string, batch: LogBatch): void => {
    activeRun(runId)

    // Params first and all checked before anything is written, so a conflict reports every offending key.
    const pending = new Map<string, string>()
    const conflicts: Array<string> = []
    for (const param of batch.params ?? []) {
      const previous = pending.get(param.key) ?? sql.paramValue.get(runId, param.key)?.value
      if (previous === undefined) pending.set(param.key, param.value)
      else if (previous !== param.value) {
        conflicts.push(
          `param ${JSON.stringify(param.key)} already has value ${JSON.stringify(previous)}, ` +
            `refusing new value ${JSON.stringify(param.value)}`
        )
      }
    }
    if (conflicts.length > 0) {
      refuse(
        `params are write-once in MLflow: ${conflicts.join("; ")} (run ${runId}); nothing of the batch was written`
      )
    }
    const stored = new Set<string>()
    for (const param of batch.params ?? []) {
      if (pending.get(param.key) === param.value && !stored.has(param.key)) {
        sql.insertParam.run(param.key, param.value, runId)
        stored.add(param.key)
      }
    }

    const newest = new Map<string, StoredMetric>()
    const points: Array<StoredMetric> = []
    for (const metric of batch.metrics ?? []) {
      checkMetricCoordinates(metric)
      const point = sanitizeMetric(metric)
      points.push(point)
      // A duplicate of a stored point changes nothing here: latest_metrics already counted it when it was stored.
      const best = newest.get(point.key)
      if (best === undefined || isMoreRecent(point, best)) newest.set(point.key, point)
    }
    // In primary-key order, so each index is written in runs of neighbouring entries rather than all over.
    points.sort((a, b) =>
      a.key !== b.key ? (a.key < b.key ? -1 : 1) : a.timestamp - b.timestamp || a.step - b.step || a.value - b.value
    )
    let next = 0
    for (; next + metricRowsPerInsert <= points.length; next += metricRowsPerInsert) {
      const values: Array<string | number> = []
      for (let index = next; index < next + metricRowsPerInsert; index++) {
        const point = points[index]!
        values.push(point.key, point.value, point.timestamp, runId, point.step, point.isNan)
      }
      sql.insertMetrics.run(...values)
    }
    for (const point of points.slice(next)) {
      sql.insertMetric.run(point.key, point.value, point.timestamp, runId, point.step, point.isNan)
    }
    for (const point of newest.values()) {
      const row = sql.latestMetric.get(runId, point.key)
      const current = row === undefined ? undefined : { ...row, isNan: row.is_nan === 1 ? (1 as const) : (0 as const) }
      if (current === undefined || isMoreRecent(point, current)) {
        sql.upsertLatestMetric.run(point.key, point.value, point.timestamp, point.step, point.isNan, runId)
      }
    }

    for (const tag of batch.tags ?? []) {
      sql.upsertTag.run(tag.key, tag.value, runId)
      // MLflow keeps the run name in runs.name as well; setting the tag renames the run.
      if (tag.key === RUN_NAME_TAG) sql.setRunName.run(tag.value, runId)
    }
  })

  const endRun = db.transaction((runId: string, status: RunStatus, endTime: number): void => {
    activeRun(runId)
    sql.setRunEnd.run(status, endTime, runId)
  })

  const readRun = db.transaction((runId: string): RunData => {
    const run = sql.runById.get(runId) ?? refuse(`run ${runId} does not exist`)
    return {
      info: toRunInfo(run),
      params: toKeyValues(sql.paramsOfRun.all(runId)),
      tags: toKeyValues(sql.tagsOfRun.all(runId)),
      latestMetrics: sql.latestMetricsOfRun.all(runId).map(decodeMetric)
    }
  })

  const readMetricHistory = db.transaction((runId: string, key: string): ReadonlyArray<Metric> => {
    if (sql.runById.get(runId) === undefined) refuse(`run ${runId} does not exist`)
    return sql.metricHistory.all(runId, key).map(decodeMetric)
  })

  return {
    uri: target.uri,
    getOrCreateExperiment: (name) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        attempt("getOrCreateExperiment", target, () => {
          if (name.trim() === "") refuse("the experiment name is empty")
          // Most calls find the experiment: only take the write lock when it has to be created.
          const row = sql.experimentByName.get(name) ?? createExperiment.immediate(name, now)
          if (row.lifecycle_stage !== "active") {
            refuse(
              `experiment ${JSON.stringify(name)} (id ${row.experiment_id}) is deleted; restore it ` +
                "(mlflow experiments restore) or delete it permanently (mlflow gc) before reusing the name"
            )
          }
          return toExperiment(row)
        })
      ),
    createRun: (input) =>
      attempt("createRun", target, () => toRunInfo(createRun.immediate(input, randomUUID().replaceAll("-", "")))),
    logBatch: (runId, batch) => attempt("logBatch", target, () => logBatch.immediate(runId, batch)),
    endRun: (runId, status, endTime) => attempt("endRun", target, () => endRun.immediate(runId, status, endTime)),
    putArtifact: (run, artifactPath, source) => putArtifact(target, run, artifactPath, source),
    getRun: (runId) => attempt("getRun", target, () => readRun.deferred(runId)),
    getMetricHistory: (runId, key) => attempt("getMetricHistory", target, () => readMetricHistory.deferred(runId, key)),
    getArtifact: (run, artifactPath) => getArtifact(target, run, artifactPath),
    listArtifacts: (run) => listArtifacts(target, run)
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Artifacts: plain files under the run's artifact URI, as MLflow's LocalArtifactRepository lays them out

/** Names of in-flight temporary files, hidden from listings. */
const TEMP_FILE = /^\..+\.[0-9a-f]{32}\.tmp$/

/** The local directory behind a run's artifact URI; other schemes belong to a tracking server, not to us. */
const localArtifactDir = (artifactUri: string): string => {
  if (artifactUri.startsWith("file:")) return fileURLToPath(artifactUri)
  if (path.isAbsolute(artifactUri)) return artifactUri
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(artifactUri) || artifactUri === "") {
    return refuse(
      `the run's artifact location ${JSON.stringify(artifactUri)} is not a local path; the SQLite store only ` +
        "writes artifacts to the local file system"
    )
  }
  return path.resolve(artifactUri)
}

/** The local file behind an artifact path of a run, refusing any path that could land outside the run. */
const artifactFile = (run: RunInfo, artifactPath: string): string => {
  const segments = artifactPathSegments(artifactPath)
  if (segments instanceof MlflowValidationError) return refuse(segments.message)
  const root = localArtifactDir(run.artifactUri)
  const destination = path.join(root, ...segments)
  const inside = path.relative(root, destination)
  if (inside.startsWith("..") || path.isAbsolute(inside)) refuse(`artifact path ${artifactPath} escapes the run`)
  return destination
}

/** In-memory artifacts up to this size are written without leaving the thread. */
const syncArtifactBytes = 256 * 1024

const putArtifact = (
  target: Target,
  run: RunInfo,
  artifactPath: string,
  source: ArtifactSource
): Effect.Effect<void, TrackingError> =>
  Effect.gen(function* () {
    const file = yield* attempt("putArtifact", target, () => artifactFile(run, artifactPath))
    const directory = path.dirname(file)
    // Written beside the target then renamed over it: readers see the old file or the new one, never a half.
    const temp = path.join(directory, `.${path.basename(file)}.${randomUUID().replaceAll("-", "")}.tmp`)
    if (source._tag === "Bytes" && source.bytes.length <= syncArtifactBytes) {
      // Small content (a config, a model summary) is written synchronously: four thread-pool round trips cost
      // more than the write, and the store's SQLite calls block the same way.
      return yield* attempt("putArtifact", target, () => {
        fs.mkdirSync(directory, { recursive: true })
        try {
          fs.writeFileSync(temp, source.bytes)
          fs.renameSync(temp, file)
        } catch (error) {
          fs.rmSync(temp, { force: true })
          throw error
        }
      })
    }
    yield* Effect.tryPromise({
      try: async () => {
        await fsp.mkdir(directory, { recursive: true })
        try {
          if (source._tag === "File") await fsp.copyFile(source.path, temp)
          else await fsp.writeFile(temp, source.bytes)
          await fsp.rename(temp, file)
        } catch (error) {
          await fsp.rm(temp, { force: true })
          throw error
        }
      },
      catch: (cause) => toTrackingError("putArtifact", target, cause)
    })
  })

const getArtifact = (target: Target, run: RunInfo, artifactPath: string): Effect.Effect<Uint8Array, TrackingError> =>
  Effect.flatMap(
    attempt("getArtifact", target, () => artifactFile(run, artifactPath)),
    (file) =>
      Effect.tryPromise({
        try: async () => new Uint8Array(await fsp.readFile(file)),
        catch: (cause) => toTrackingError("getArtifact", target, cause)
      })
  )

const walkArtifacts = async (root: string, relative: string, into: Array<ArtifactEntry>): Promise<void> => {
  const entries = await fsp.readdir(path.join(root, relative), { withFileTypes: true })
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const entry of entries) {
    if (TEMP_FILE.test(entry.name)) continue
    const entryPath = relative === "" ? entry.name : `${relative}/${entry.name}`
    const stats = await fsp.stat(path.join(root, entryPath))
    if (stats.isDirectory()) {
      into.push({ path: entryPath, isDir: true, fileSize: null })
      await walkArtifacts(root, entryPath, into)
    } else {
      into.push({ path: entryPath, isDir: false, fileSize: stats.size })
    }
  }
}

const listArtifacts = (target: Target, run: RunInfo): Effect.Effect<ReadonlyArray<ArtifactEntry>, TrackingError> =>
  Effect.flatMap(
    attempt("listArtifacts", target, () => localArtifactDir(run.artifactUri)),
    (root) =>
      Effect.tryPromise({
        try: async () => {
          const entries: Array<ArtifactEntry> = []
          try {
            await walkArtifacts(root, "", entries)
          } catch (error) {
            // No artifact logged yet: MLflow lists an empty directory.
            if (errorCode(error) !== "ENOENT" || entries.length > 0) throw error
          }
          return entries
        },
        catch: (cause) => toTrackingError("listArtifacts", target, cause)
      })
  )
