/**
 * The seam between the {@link Mlflow} service and where runs are stored.
 *
 * Every backend (embedded SQLite in MLflow's own schema, MLflow's REST API, the in-memory store behind
 * `Mlflow.layerTest`) implements {@link TrackingStore}; the service validates input against MLflow's limits
 * before it reaches a store, so a store only has to persist atomically and report failures.
 *
 * @module
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"

/** Lifecycle status of an MLflow run, as MLflow spells it. */
export type RunStatus = "RUNNING" | "SCHEDULED" | "FINISHED" | "FAILED" | "KILLED"

/** An MLflow experiment as stored. Ids are strings, as MLflow's APIs expose them. */
export interface Experiment {
  readonly experimentId: string
  readonly name: string
  readonly artifactLocation: string
  readonly lifecycleStage: "active" | "deleted"
  readonly creationTime: number
  readonly lastUpdateTime: number
}

/** Identity and lifecycle of one run (MLflow's `RunInfo`). Times are epoch milliseconds. */
export interface RunInfo {
  readonly runId: string
  readonly runName: string
  readonly experimentId: string
  readonly userId: string
  readonly status: RunStatus
  readonly startTime: number
  readonly endTime: number | null
  readonly artifactUri: string
  readonly lifecycleStage: "active" | "deleted"
}

/** One metric point. `value` may be NaN or ±Infinity; stores encode them as MLflow does. */
export interface Metric {
  readonly key: string
  readonly value: number
  /** Epoch milliseconds. */
  readonly timestamp: number
  readonly step: number
}

/** A run parameter: write-once, string-valued. */
export interface Param {
  readonly key: string
  readonly value: string
}

/** A run tag: overwritable, string-valued. */
export interface Tag {
  readonly key: string
  readonly value: string
}

/** Everything a store holds about a run: its info, params, tags and the latest value of each metric. */
export interface RunData {
  readonly info: RunInfo
  readonly params: ReadonlyArray<Param>
  readonly tags: ReadonlyArray<Tag>
  readonly latestMetrics: ReadonlyArray<Metric>
}

/** One batch of writes to a run, persisted all-or-nothing. */
export interface LogBatch {
  readonly metrics?: ReadonlyArray<Metric> | undefined
  readonly params?: ReadonlyArray<Param> | undefined
  readonly tags?: ReadonlyArray<Tag> | undefined
}

/** What to create a run with. The store generates the run id and derives the artifact URI. */
export interface CreateRunInput {
  readonly experimentId: string
  readonly runName: string
  readonly userId: string
  readonly startTime: number
  readonly tags: ReadonlyArray<Tag>
}

/** The bytes of an artifact: a file to copy, or content held in memory. */
export type ArtifactSource =
  | { readonly _tag: "File"; readonly path: string }
  | { readonly _tag: "Bytes"; readonly bytes: Uint8Array }

/** An entry of a run's artifact tree, relative to the run's artifact root. */
export interface ArtifactEntry {
  readonly path: string
  readonly isDir: boolean
  readonly fileSize: number | null
}

/**
 * Removes credentials (`user:password@`) from a URI before it is shown anywhere: every {@link TrackingError}
 * and log line names its store by this form.
 */
export const displayUri = (uri: string): string => uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1")

/**
 * Why a tracking operation failed: which operation, against which store (URI without credentials), and the
 * reason. The underlying exception, if any, is kept in `cause` for debugging.
 */
export class TrackingError extends Schema.TaggedError<TrackingError>()("TrackingError", {
  operation: Schema.String,
  uri: Schema.String,
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    return `MLflow ${this.operation} failed on ${this.uri}: ${this.reason}`
  }
}

/**
 * Storage backend of the Mlflow service. The embedded and memory stores make every call atomic: a failed
 * `logBatch` leaves nothing of the batch behind. A tracking server cannot promise that (MLflow's `log-batch`
 * writes params, then metrics, then tags), so the REST store makes every write safe to send again instead:
 * sending a batch twice stores it once, and a retry completes what a failure left half done.
 */
export interface TrackingStore {
  /** The tracking URI, with credentials removed, for messages and logs. */
  readonly uri: string
  /** Returns the active experiment with this name, creating it when missing. */
  readonly getOrCreateExperiment: (name: string) => Effect.Effect<Experiment, TrackingError>
  /** Creates a RUNNING run; the run name is stored in `runs.name` and the `mlflow.runName` tag. */
  readonly createRun: (input: CreateRunInput) => Effect.Effect<RunInfo, TrackingError>
  /**
   * Writes metrics, params and tags at once. Params are write-once: the same key with another value fails
   * the whole batch. A metric point identical to one already stored (key, value, step, timestamp) is ignored.
   */
  readonly logBatch: (runId: string, batch: LogBatch) => Effect.Effect<void, TrackingError>
  /** Sets the terminal status and end time of a run. */
  readonly endRun: (runId: string, status: RunStatus, endTime: number) => Effect.Effect<void, TrackingError>
  /** Stores an artifact at `artifactPath` (POSIX, relative to the run's artifact root). */
  readonly putArtifact: (
    run: RunInfo,
    artifactPath: string,
    source: ArtifactSource
  ) => Effect.Effect<void, TrackingError>
  /** Reads a run back. */
  readonly getRun: (runId: string) => Effect.Effect<RunData, TrackingError>
  /** Every point of one metric, ordered by step then timestamp. */
  readonly getMetricHistory: (runId: string, key: string) => Effect.Effect<ReadonlyArray<Metric>, TrackingError>
  /** The content of one artifact file of a run; fails when there is none at `artifactPath`. */
  readonly getArtifact: (run: RunInfo, artifactPath: string) => Effect.Effect<Uint8Array, TrackingError>
  /** Lists the artifact tree of a run, recursively, files and directories. */
  readonly listArtifacts: (run: RunInfo) => Effect.Effect<ReadonlyArray<ArtifactEntry>, TrackingError>
}
