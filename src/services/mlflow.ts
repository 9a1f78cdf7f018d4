/**
 * The Mlflow service: selects (or creates) the experiment when it starts, and opens runs as scoped resources
 * whose status comes from how the scope ends — FINISHED on success, FAILED on failure or defect, KILLED on
 * interruption — so no run is ever left RUNNING.
 *
 * @module
 */
import { basename, posix } from "node:path"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import { withDefault } from "../internal/schema.js"
import { sourceTags } from "../tracking/context.js"
import { type MemoryTrackingStore, makeMemoryStore } from "../tracking/memory.js"
import type {
  ArtifactSource,
  Experiment,
  LogBatch,
  Metric,
  RunInfo,
  RunStatus,
  Tag,
  TrackingStore
} from "../tracking/store.js"
import { displayUri, TrackingError } from "../tracking/store.js"
import {
  chunkBatch,
  MlflowLimits,
  MlflowValidationError,
  validateBatch,
  validateExperimentName
} from "../tracking/validation.js"
import { ServiceStartError } from "./errors.js"

/** Configuration of the MLflow service (`mlflow_service` in a job's config). */
export const MlflowConfig = Schema.Struct({
  /**
   * Where runs are recorded: `sqlite:///relative.db` or `sqlite:////absolute.db` (MLflow's own schema,
   * readable by `mlflow ui`), `http(s)://host[:port]` (an MLflow tracking server, through its REST API),
   * `memory://` (kept in this process only), or `none` (same as `memory://`).
   */
  tracking_uri: Schema.NonEmptyString.pipe(
    withDefault(
      "sqlite:///mlflow.db",
      "Tracking URI: sqlite:///path.db (embedded, MLflow schema), http(s)://host:port (MLflow server), memory:// or none."
    )
  ),
  /**
   * Where a new experiment of the embedded store keeps its artifacts (`<artifact_root>/<experiment id>`),
   * relative to the working directory; `./mlruns` as MLflow's own client. Existing experiments keep theirs.
   * A tracking server decides this itself (`mlflow server --artifacts-destination`).
   */
  artifact_root: Schema.NonEmptyString.pipe(
    withDefault("./mlruns", "Artifact root of new experiments in the embedded store (default ./mlruns).")
  ),
  /** The experiment runs are recorded in; created when missing. */
  experiment_name: Schema.NonEmptyString.pipe(
    withDefault("autogen-team", "Experiment the job's runs are recorded in (created when missing).")
  ),
  /**
   * Tracking servers only: the seconds one tracking operation may take, retries included, before it fails.
   * Connection errors, timeouts, 408, 429 and 5xx answers are retried within it, so a server that restarts
   * within the budget loses nothing; an unreachable server fails the job's start after it.
   */
  retry_budget: Schema.Finite.check(Schema.isGreaterThan(0)).pipe(
    withDefault(30, "Tracking servers: seconds one operation may take, retries included, before it fails.")
  ),
  /** Tracking servers only: the seconds one HTTP request may wait for its response before it is retried. */
  request_timeout: Schema.Finite.check(Schema.isGreaterThan(0)).pipe(
    withDefault(10, "Tracking servers: seconds one HTTP request may wait for its response (then it is retried).")
  )
})
/** Decoded MLflow configuration. */
export type MlflowConfig = typeof MlflowConfig.Type

/** The MLflow configuration used when a job's config says nothing. */
export const defaultMlflowConfig: MlflowConfig = Schema.decodeUnknownSync(MlflowConfig)({})

/** Everything a tracking call can fail with: a rule of MLflow broken, or the store failing. */
export type MlflowError = MlflowValidationError | TrackingError

/** A value MLflow stores as a param: written as its string form. */
export type ParamValue = string | number | boolean

/** How to open a run. */
export interface RunConfig {
  /** Run name (MLflow's `runs.name` and `mlflow.runName` tag). */
  readonly name: string
  /** Shown as the run's description in the MLflow UI (`mlflow.note.content`). */
  readonly description?: string | undefined
  readonly tags?: Readonly<Record<string, string>> | undefined
  /** Params logged when the run opens, before anything else runs. */
  readonly params?: Readonly<Record<string, ParamValue>> | undefined
}

/** Options of a metric point. */
export interface MetricOptions {
  /** Defaults to 0, as in MLflow. */
  readonly step?: number | undefined
  /** Epoch milliseconds; defaults to now. */
  readonly timestamp?: number | undefined
}

/**
 * An open MLflow run. Metric points are buffered and written in batches, in the order they were logged (when
 * 1000 are pending, every second, and before the run ends); points a write did not store (the store failed past
 * its retries, or the write was interrupted) stay pending for the next one. Params and tags are written at once. Every value is checked against
 * MLflow's rules when logged, so an invalid one fails the call that logged it.
 */
export interface Run {
  readonly info: RunInfo
  readonly logParam: (key: string, value: ParamValue) => Effect.Effect<void, MlflowError>
  readonly logParams: (params: Readonly<Record<string, ParamValue>>) => Effect.Effect<void, MlflowError>
  readonly logMetric: (key: string, value: number, options?: MetricOptions) => Effect.Effect<void, MlflowError>
  readonly logMetrics: (
    metrics: Readonly<Record<string, number>>,
    options?: MetricOptions
  ) => Effect.Effect<void, MlflowError>
  readonly setTag: (key: string, value: string) => Effect.Effect<void, MlflowError>
  readonly setTags: (tags: Readonly<Record<string, string>>) => Effect.Effect<void, MlflowError>
  /** Copies a local file into the run's artifacts, under the directory `artifactPath` if given. */
  readonly logArtifact: (localPath: string, artifactPath?: string) => Effect.Effect<void, MlflowError>
  /** Stores `text` as the artifact file `artifactFile` (a relative POSIX path). */
  readonly logText: (text: string, artifactFile: string) => Effect.Effect<void, MlflowError>
  /** Stores `value` as pretty-printed JSON in the artifact file `artifactFile`. */
  readonly logJson: (value: unknown, artifactFile: string) => Effect.Effect<void, MlflowError>
  /** Writes the buffered metric points now. */
  readonly flush: Effect.Effect<void, TrackingError>
}

/** No run is open in the current fiber: `Mlflow.currentRun` was used outside a job or `withRun`. */
export class NoActiveRunError extends Schema.TaggedError<NoActiveRunError>()("NoActiveRunError", {}) {
  override get message(): string {
    return "no MLflow run is active here: use it inside a job's run or Mlflow.withRun"
  }
}

/** The run the current fiber logs to, set by `withRun` (and so by the job runner). Fiber-local. */
export const CurrentRun = Context.Reference<Run | undefined>("autogen-team/services/Mlflow/CurrentRun", {
  defaultValue: () => undefined
})

/** The MLflow status a run ends with, from how its scope ended. */
export const statusFromExit = (
  exit: Exit.Exit<unknown, unknown>
): Extract<RunStatus, "FINISHED" | "FAILED" | "KILLED"> =>
  Exit.isSuccess(exit) ? "FINISHED" : Cause.hasInterruptsOnly(exit.cause) ? "KILLED" : "FAILED"

/** How long buffered metric points wait at most before they are written. */
const metricFlushInterval = Duration.seconds(1)

/** The running MLflow service of a job. */
export class Mlflow extends Context.Service<
  Mlflow,
  {
    /** The tracking URI, without credentials. */
    readonly trackingUri: string
    /** The experiment runs are recorded in. */
    readonly experiment: Experiment
    /** The store behind the service, for reading runs back. */
    readonly store: TrackingStore
    /**
     * Opens a run for the enclosing scope. Inside another run (see {@link CurrentRun}) it becomes a child
     * run (`mlflow.parentRunId`). It ends when the scope closes, with the status of the scope's exit.
     */
    readonly runContext: (config: RunConfig) => Effect.Effect<Run, MlflowError, Scope.Scope>
    /** Sets tags on any run of the store by id, e.g. to mark the best of finished trials. */
    readonly setRunTags: (runId: string, tags: Readonly<Record<string, string>>) => Effect.Effect<void, MlflowError>
    /** Runs `use` inside a new run that is the {@link CurrentRun} for it; ends the run with `use`'s outcome. */
    readonly withRun: <A, E, R>(
      config: RunConfig,
      use: (run: Run) => Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | MlflowError, R>
  }
>()("autogen-team/services/Mlflow") {
  /**
   * The real service (missing options take their defaults): opens the store the tracking URI names and
   * selects the experiment; writes
   * `[START] Mlflow` / `[STOP] Mlflow` at DEBUG; closes the store on release.
   */
  static readonly layer = (options: Partial<MlflowConfig> = {}): Layer.Layer<Mlflow, ServiceStartError> =>
    Layer.effect(
      Mlflow,
      Effect.gen(function* () {
        const config: MlflowConfig = { ...defaultMlflowConfig, ...options }
        const store = yield* openStore(config)
        return yield* start(config, store)
      }).pipe(
        Effect.mapError((error) =>
          error._tag === "ServiceStartError"
            ? error
            : new ServiceStartError({ service: "Mlflow", reason: error.message, cause: error })
        )
      )
    )

  /** The service over a given store, for stores built elsewhere. */
  static readonly fromStore = (config: MlflowConfig, store: TrackingStore): Layer.Layer<Mlflow, ServiceStartError> =>
    Layer.effect(
      Mlflow,
      start(config, store).pipe(
        Effect.mapError((error) => new ServiceStartError({ service: "Mlflow", reason: error.message, cause: error }))
      )
    )

  /** The service for tests: records into the {@link MemoryTracking} store provided around the test. */
  static readonly layerTest: Layer.Layer<Mlflow, never, MemoryTracking> = Layer.effect(
    Mlflow,
    Effect.gen(function* () {
      const { store } = yield* MemoryTracking
      return yield* start({ ...defaultMlflowConfig, tracking_uri: store.uri, experiment_name: "test" }, store)
    }).pipe(Effect.orDie)
  )

  /** The run the current fiber logs to; fails outside a job's run or `withRun`. */
  static readonly currentRun: Effect.Effect<Run, NoActiveRunError> = Effect.gen(function* () {
    const run = yield* CurrentRun
    if (run === undefined) return yield* new NoActiveRunError()
    return run
  })
}

/** The in-memory store {@link Mlflow.layerTest} records into; provide {@link MemoryTracking.layer} around a test. */
export class MemoryTracking extends Context.Service<MemoryTracking, { readonly store: MemoryTrackingStore }>()(
  "autogen-team/services/MemoryTracking"
) {
  /** A fresh, empty store. */
  static readonly layer: Layer.Layer<MemoryTracking> = Layer.sync(MemoryTracking, () =>
    MemoryTracking.of({ store: makeMemoryStore() })
  )
  /** Every run recorded so far, in creation order. */
  static readonly runs = MemoryTracking.use(({ store }) => store.runs)
}

const openStore = (
  config: MlflowConfig
): Effect.Effect<TrackingStore, ServiceStartError | TrackingError, Scope.Scope> => {
  const uri = config.tracking_uri
  if (uri === "none" || uri.startsWith("memory:")) return Effect.succeed(makeMemoryStore())
  if (uri.startsWith("sqlite:")) {
    // Loaded on demand: the native SQLite binding is only paid for by jobs that use it.
    return Effect.flatMap(
      Effect.promise(() => import("../tracking/sqlite.js")),
      (sqlite) => sqlite.makeSqliteStore({ uri, artifactRoot: config.artifact_root })
    )
  }
  if (/^https?:\/\//i.test(uri)) {
    // Loaded on demand, like SQLite: only jobs that talk to a server load the HTTP client.
    return Effect.flatMap(
      Effect.promise(() => import("../tracking/rest.js")),
      (rest) =>
        rest.makeRestStore({
          uri,
          retryBudget: Duration.seconds(config.retry_budget),
          requestTimeout: Duration.seconds(config.request_timeout)
        })
    )
  }
  const reason = `tracking URI ${displayUri(uri)} is not supported: use sqlite:///path.db, http(s)://host:port, memory:// or none`
  return Effect.fail(new ServiceStartError({ service: "Mlflow", reason }))
}

const validated = (batch: LogBatch): Effect.Effect<void, MlflowValidationError> => {
  const problem = validateBatch(batch)
  return problem ? Effect.fail(problem) : Effect.void
}

const recordToParams = (params: Readonly<Record<string, ParamValue>>) =>
  Object.entries(params).map(([key, value]) => ({ key, value: String(value) }))
const recordToTags = (tags: Readonly<Record<string, string>>): ReadonlyArray<Tag> =>
  Object.entries(tags).map(([key, value]) => ({ key, value }))

const start = Effect.fnUntraced(function* (config: MlflowConfig, store: TrackingStore) {
  const nameProblem = validateExperimentName(config.experiment_name)
  if (nameProblem) return yield* nameProblem
  const experiment = yield* store.getOrCreateExperiment(config.experiment_name)
  const trackingUri = displayUri(config.tracking_uri)
  yield* Effect.logDebug(
    `[START] Mlflow: tracking_uri=${trackingUri} experiment=${experiment.name} (id ${experiment.experimentId})`
  )
  yield* Effect.addFinalizer(() => Effect.logDebug("[STOP] Mlflow"))
  const source = sourceTags()

  const runContext = (runConfig: RunConfig): Effect.Effect<Run, MlflowError, Scope.Scope> =>
    Effect.gen(function* () {
      const parent = yield* CurrentRun
      const tags: ReadonlyArray<Tag> = [
        ...source,
        ...(parent ? [{ key: "mlflow.parentRunId", value: parent.info.runId }] : []),
        ...(runConfig.description === undefined ? [] : [{ key: "mlflow.note.content", value: runConfig.description }]),
        ...recordToTags(runConfig.tags ?? {}),
        { key: "mlflow.runName", value: runConfig.name }
      ]
      const params = recordToParams(runConfig.params ?? {})
      // Everything is checked before the run exists, so a bad value leaves no half-made run behind.
      yield* validated({ tags, params })
      const run = yield* Effect.acquireRelease(
        Effect.flatMap(
          store.createRun({
            experimentId: experiment.experimentId,
            runName: runConfig.name,
            userId: source.find((tag) => tag.key === "mlflow.user")?.value ?? "unknown",
            startTime: Date.now(),
            tags
          }),
          (info) =>
            makeRun(store, info).pipe(
              Effect.tap((run) =>
                Effect.forEach(chunkBatch({ params }), (batch) => store.logBatch(info.runId, batch), {
                  discard: true
                }).pipe(Effect.onError(() => Effect.ignore(run.close("FAILED"))))
              )
            )
        ),
        (run, exit) => run.close(statusFromExit(exit))
      )
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(metricFlushInterval), run.backgroundFlush)))
      return run.handle
    })

  return Mlflow.of({
    trackingUri,
    experiment,
    store,
    runContext,
    setRunTags: (runId, tags) => {
      const batch = { tags: recordToTags(tags) }
      return Effect.andThen(validated(batch), store.logBatch(runId, batch))
    },
    withRun: (runConfig, use) =>
      Effect.scoped(Effect.flatMap(runContext(runConfig), (run) => Effect.provideService(use(run), CurrentRun, run)))
  })
})

interface RunResource {
  readonly handle: Run
  /** Flushes, logging instead of failing: the periodic flush must not kill the run. */
  readonly backgroundFlush: Effect.Effect<void>
  /** Writes pending points and ends the run; a failure is a defect, kept in the scope's Cause. */
  readonly close: (status: RunStatus) => Effect.Effect<void>
}

const makeRun = (store: TrackingStore, info: RunInfo): Effect.Effect<RunResource> =>
  Effect.map(Semaphore.make(1), (writing) => {
    let pending: Array<Metric> = []

    // One writer at a time keeps points in the order they were logged. Whatever stops a write before the end
    // (a failure, or interruption while a request is in flight) puts the points not yet written back in front,
    // so the next flush sends them again: nothing is lost, and a store that already has a point ignores it.
    const flush: Effect.Effect<void, TrackingError> = writing.withPermits(1)(
      Effect.suspend(() => {
        if (pending.length === 0) return Effect.void
        const points = pending
        pending = []
        let written = 0
        return Effect.forEach(
          chunkBatch({ metrics: points }),
          (batch) =>
            Effect.tap(
              store.logBatch(info.runId, batch),
              Effect.sync(() => {
                written += batch.metrics?.length ?? 0
              })
            ),
          { discard: true }
        ).pipe(
          Effect.onExit((exit) =>
            Exit.isSuccess(exit)
              ? Effect.void
              : Effect.sync(() => {
                  pending = [...points.slice(written), ...pending]
                })
          )
        )
      })
    )

    const write = (batch: LogBatch) =>
      Effect.andThen(
        validated(batch),
        Effect.forEach(chunkBatch(batch), (chunk) => store.logBatch(info.runId, chunk), { discard: true })
      )

    const logMetrics = (metrics: Readonly<Record<string, number>>, options?: MetricOptions) =>
      Effect.suspend(() => {
        const timestamp = options?.timestamp ?? Date.now()
        const step = options?.step ?? 0
        const points = Object.entries(metrics).map(([key, value]) => ({ key, value, timestamp, step }))
        return Effect.andThen(
          validated({ metrics: points }),
          Effect.suspend(() => {
            pending.push(...points)
            return pending.length >= MlflowLimits.metricsPerBatch ? flush : Effect.void
          })
        )
      })

    const putArtifact = (artifactPath: string, source: ArtifactSource) => store.putArtifact(info, artifactPath, source)

    const handle: Run = {
      info,
      logParam: (key, value) => write({ params: [{ key, value: String(value) }] }),
      logParams: (params) => write({ params: recordToParams(params) }),
      logMetric: (key, value, options) => logMetrics({ [key]: value }, options),
      logMetrics,
      setTag: (key, value) => write({ tags: [{ key, value }] }),
      setTags: (tags) => write({ tags: recordToTags(tags) }),
      logArtifact: (localPath, artifactPath) =>
        putArtifact(posix.join(artifactPath ?? "", basename(localPath)), { _tag: "File", path: localPath }),
      logText: (text, artifactFile) => putArtifact(artifactFile, { _tag: "Bytes", bytes: Buffer.from(text) }),
      logJson: (value, artifactFile) =>
        putArtifact(artifactFile, { _tag: "Bytes", bytes: Buffer.from(`${JSON.stringify(value, null, 2)}\n`) }),
      flush
    }

    return {
      handle,
      backgroundFlush: flush.pipe(
        Effect.catch((error) => Effect.logWarning(`metrics not written yet: ${error.message}`))
      ),
      close: (status) =>
        flush.pipe(
          Effect.exit,
          Effect.flatMap((flushed) =>
            Effect.andThen(store.endRun(info.runId, Exit.isSuccess(flushed) ? status : "FAILED", Date.now()), flushed)
          ),
          Effect.orDie
        )
    }
  })

export { displayUri, MlflowValidationError, TrackingError }
