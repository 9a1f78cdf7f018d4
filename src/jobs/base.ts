/**
 * The job base and its runner.
 *
 * A job is an immutable, schema-validated value with a `KIND` and a `run` effect. {@link runJob} runs it in
 * a scope that starts the logger, alerts and MLflow services (in that order), records the job as an MLflow
 * run, and stops the services in reverse order however the job ends — success, failure, defect or
 * interruption — without ever replacing the job's own error.
 *
 * @module
 */
import { hostname } from "node:os"
import { performance } from "node:perf_hooks"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { ConfigError, decodeConfig } from "../config/decode.js"
import { deepFreeze, withDefault } from "../internal/schema.js"
import { Alerts, AlertsConfig, defaultAlertsConfig } from "../services/alerts.js"
import type { ServiceStartError } from "../services/errors.js"
import { defaultLoggerConfig, Logger, LoggerConfig } from "../services/logger.js"
import {
  defaultMlflowConfig,
  Mlflow,
  MlflowConfig,
  type MlflowError,
  type Run,
  type RunConfig
} from "../services/mlflow.js"
import type { Param, RunInfo } from "../tracking/store.js"
import { validateParam } from "../tracking/validation.js"
import { outcomeAlert } from "./outcome.js"

/** What a job's `run` returns: its local values by name, read-only (the Python original's `locals()`). */
export type Locals = Readonly<Record<string, unknown>>

/** The services every job can use in `run`. */
export type JobServices = Logger | Alerts | Mlflow

/** The config fields every job has: the three service configurations, each with defaults. */
export const serviceFields = {
  logger_service: LoggerConfig.pipe(withDefault(defaultLoggerConfig, "Logger service: sink, level, format.")),
  alerts_service: AlertsConfig.pipe(withDefault(defaultAlertsConfig, "Alerts service: desktop or console alerts.")),
  mlflow_service: MlflowConfig.pipe(withDefault(defaultMlflowConfig, "MLflow service: tracking URI and experiment."))
}

type JobFields<Kind extends string, Fields extends Schema.Struct.Fields> = {
  readonly KIND: Schema.withConstructorDefault<Schema.withDecodingDefaultTypeKey<Schema.Literal<Kind>>>
} & typeof serviceFields &
  Fields

/** No extra fields: the default of {@link Job}'s field map. */
export type NoFields = Record<never, never>

/** The shape every job instance has, whatever its kind. */
export interface AnyJob {
  readonly KIND: string
  readonly logger_service: LoggerConfig
  readonly alerts_service: AlertsConfig
  readonly mlflow_service: MlflowConfig
  run(): Effect.Effect<Locals, unknown, unknown>
}

/**
 * Defines a job kind. The class it returns is abstract: a job kind is a subclass that implements `run`.
 *
 * ```ts
 * class TrainingJob extends Job<TrainingJob>()("TrainingJob", { epochs: Schema.Int }) {
 *   run() {
 *     const epochs = this.epochs
 *     return Effect.gen(function* () {
 *       const run = yield* Mlflow.currentRun
 *       yield* run.logMetric("loss", 0.1, { step: epochs })
 *       return { epochs }
 *     })
 *   }
 * }
 * ```
 *
 * Instances are deeply frozen, and decoding ({@link decodeJob}) is strict: unknown keys are errors and no
 * value is coerced. `KIND` defaults to the kind's name and accepts nothing else. Subclasses must not
 * declare instance fields: put configuration in the schema fields, where it is validated.
 */
export const Job =
  <Self = never>() =>
  <const Kind extends string, const Fields extends Schema.Struct.Fields = NoFields>(
    kind: Kind,
    fields?: Fields
  ): JobBaseClass<Self, Kind, Fields> => {
    const schemaFields = {
      KIND: Schema.Literal(kind).pipe(withDefault<Schema.Literal<Kind>>(kind)),
      ...serviceFields,
      ...fields
    }
    // Inside this generic factory TypeScript cannot extend the generic Schema.Class type; the concrete type
    // is restored by the declared return type, which callers see with their own Kind and Fields.
    const Base = Schema.Class<Self>(kind)(schemaFields) as unknown as new (
      props: unknown,
      options?: Schema.MakeOptions
    ) => object
    abstract class JobBase extends Base {
      static readonly KIND: Kind = kind

      constructor(props: unknown, options?: Schema.MakeOptions) {
        super(props, options)
        if (new.target === JobBase) {
          throw new TypeError(`${kind} is abstract: define a subclass that implements run()`)
        }
        if (typeof (this as Partial<AnyJob>).run !== "function") {
          throw new TypeError(`${new.target.name} must implement run()`)
        }
        deepFreeze(this)
      }
    }
    return JobBase as unknown as JobBaseClass<Self, Kind, Fields>
  }

type JobSchemaClass<Self, Kind extends string, Fields extends Schema.Struct.Fields> = Schema.Class<
  Self,
  Schema.Struct<JobFields<Kind, Fields>>,
  NoFields
>

/**
 * The class {@link Job} returns: the static side of a `Schema.Class` (so it decodes and encodes), an
 * abstract constructor (so it cannot be instantiated), and instances holding the validated fields. A
 * subclass becomes a job by implementing `run` — {@link runJob} and {@link decodeJob} accept nothing less.
 */
export type JobBaseClass<Self, Kind extends string, Fields extends Schema.Struct.Fields> = {
  readonly [K in keyof JobSchemaClass<Self, Kind, Fields>]: JobSchemaClass<Self, Kind, Fields>[K]
} & { readonly KIND: Kind } & (abstract new (
    ...args: ConstructorParameters<JobSchemaClass<Self, Kind, Fields>>
  ) => Schema.Struct<JobFields<Kind, Fields>>["Type"])

/**
 * Whether a value is a concrete job class (a subclass of a {@link Job} base implementing `run`), e.g. among
 * the exports of a module of job kinds.
 */
export const isJobClass = (value: unknown): value is JobClass<AnyJob> =>
  typeof value === "function" &&
  typeof (value as { readonly KIND?: unknown }).KIND === "string" &&
  Schema.isSchema(value) &&
  typeof (value.prototype as Partial<AnyJob> | undefined)?.run === "function"

/** A concrete job class: what {@link decodeJob} accepts. */
export type JobClass<J extends AnyJob> = Schema.Constraint & {
  readonly Type: J
  readonly DecodingServices: never
  readonly KIND: string
}

/**
 * Decodes untrusted input (a parsed YAML/JSON file, say) into a job of `jobClass`, strictly: unknown keys,
 * wrong types and coercions like `"1"` for a number are {@link ConfigError}s naming the path.
 */
export const decodeJob = <J extends AnyJob>(jobClass: JobClass<J>) => {
  const decode = decodeConfig(jobClass)
  return (input: unknown, source?: string): Effect.Effect<J, ConfigError> => decode(input, source)
}

/** Replaces the default layer of a service, e.g. with its `layerTest`, for one run of a job. */
export interface RunJobOptions<RL = never, RA = never, RM = never> {
  readonly logger?: Layer.Layer<Logger, ServiceStartError, RL> | undefined
  readonly alerts?: Layer.Layer<Alerts, ServiceStartError, RA> | undefined
  readonly mlflow?: Layer.Layer<Mlflow, ServiceStartError, RM> | undefined
  /** The MLflow run of the job; the name defaults to the job's KIND. */
  readonly run?: Partial<RunConfig> | undefined
  /** Called once the job's run is open, e.g. to report its id. */
  readonly onRunStart?: ((run: RunInfo) => void) | undefined
}

type RunEffect<J extends AnyJob> = ReturnType<J["run"]>

/**
 * Runs a job with its services, as an Effect to hand to `Effect.runPromise` (or compose):
 *
 * 1. starts Logger → Alerts → Mlflow (each logs `[START] …` at DEBUG); if one fails to start, those already
 *    started are stopped in reverse order and the start error is the result;
 * 2. opens the job's MLflow run — params from the job's config (secrets left out), tags `job.kind`,
 *    `mlflow.runName`, user, source, git commit and host, the resolved config as the artifact
 *    `job/config.json` — and runs `job.run()` with that run as {@link Mlflow.currentRun};
 * 3. ends the run FINISHED / FAILED / KILLED from the outcome, uploads the log file (file sinks) under
 *    `logs/`, and stops Mlflow → Alerts → Logger (`[STOP] …`), each exactly once, even if one fails.
 *
 * The job's error is the error of the returned effect, unchanged; a failing stop is kept in the Cause
 * beside it. Services the job needs beyond the three stay in the requirements, for the caller to provide.
 */
export const runJob = <J extends AnyJob, RL = never, RA = never, RM = never>(
  job: J,
  options: RunJobOptions<RL, RA, RM> = {}
): Effect.Effect<
  Effect.Success<RunEffect<J>>,
  Effect.Error<RunEffect<J>> | ServiceStartError | MlflowError,
  Exclude<Effect.Services<RunEffect<J>>, JobServices> | RL | RA | RM
> => {
  const loggerLayer = options.logger ?? Logger.layer(job.logger_service)
  const alertsLayer = options.alerts ?? Alerts.layer(job.alerts_service)
  // A job whose tracking cannot start has failed too, and the team hears of it like of any other failure.
  const mlflowLayer = (options.mlflow ?? Mlflow.layer(job.mlflow_service)).pipe(
    Layer.tapError((error) =>
      Alerts.use((alerts) => {
        const host = hostname()
        return alerts.notify(`${job.KIND} failed`, `${error.message} (no run, on ${host})`, {
          level: "error",
          fields: { kind: job.KIND, status: "FAILED", run_id: "none", host }
        })
      })
    )
  )
  // Nested provideMerge builds strictly in sequence (logger, then alerts, then mlflow) and releases in
  // reverse; a parallel merge would make start and stop order nondeterministic.
  const services = mlflowLayer.pipe(Layer.provideMerge(alertsLayer.pipe(Layer.provideMerge(loggerLayer))))
  const runConfig: RunConfig = {
    name: options.run?.name ?? job.KIND,
    description: options.run?.description,
    tags: { "job.kind": job.KIND, ...options.run?.tags },
    params: options.run?.params
  }
  return Effect.suspend(() => {
    // The job's own exit, kept aside: a service that fails to stop would otherwise turn the job's typed
    // error into a defect (Effect elects every Fail to Die when a finalizer dies), and it must stay primary.
    let jobExit: Exit.Exit<Effect.Success<RunEffect<J>>, unknown> | undefined
    const program = Effect.gen(function* () {
      const mlflow = yield* Mlflow
      const logger = yield* Logger
      const alerts = yield* Alerts
      const started = performance.now()
      let runInfo: RunInfo | undefined
      // Sent once the run has ended (so it shows the final status) and before any service stops, so it is
      // logged and delivered; as a finalizer, it is sent on interruption too.
      const alertOutcome = (exit: Exit.Exit<unknown, unknown>) =>
        Exit.isSuccess(exit) && !job.alerts_service.on_success
          ? Effect.void
          : Effect.suspend(() => {
              const alert = outcomeAlert({
                kind: job.KIND,
                exit,
                run: runInfo,
                durationSeconds: (performance.now() - started) / 1000,
                trackingUri: mlflow.trackingUri,
                experiment: mlflow.experiment.name,
                host: hostname()
              })
              return alerts.notify(alert.title, alert.message, alert)
            })
      jobExit = yield* Effect.exit(
        mlflow
          .withRun(runConfig, (run) =>
            Effect.gen(function* () {
              runInfo = run.info
              options.onRunStart?.(run.info)
              yield* logJobConfig(run, job)
              return (yield* job.run()) as Effect.Success<RunEffect<J>>
            }).pipe(
              // Said through the job's own logger, so the failure is in its log file before the services stop;
              // onError, not tapCause: it runs uninterruptibly, so an interrupted job is logged as such too.
              Effect.onError((cause) =>
                Cause.hasInterruptsOnly(cause)
                  ? Effect.logWarning(`${job.KIND} interrupted`)
                  : Effect.logError(`${job.KIND} failed`, cause)
              ),
              Effect.onExit(() =>
                logger.file === undefined
                  ? Effect.void
                  : run
                      .logArtifact(logger.file, "logs")
                      .pipe(
                        Effect.catch((error) => Effect.logWarning(`log file not saved with the run: ${error.message}`))
                      )
              )
            )
          )
          .pipe(Effect.onExit((exit) => alertOutcome(exit)))
      )
      return jobExit
    })
    return program.pipe(
      Effect.provide(services),
      Effect.exit,
      Effect.flatMap((outer) => {
        if (Exit.isSuccess(outer)) return outer.value
        if (jobExit === undefined) return Exit.failCause(outer.cause)
        return Exit.failCause(Exit.isFailure(jobExit) ? Cause.combine(jobExit.cause, outer.cause) : outer.cause)
      })
    )
  }) as Effect.Effect<
    Effect.Success<RunEffect<J>>,
    Effect.Error<RunEffect<J>> | ServiceStartError | MlflowError,
    Exclude<Effect.Services<RunEffect<J>>, JobServices> | RL | RA | RM
  >
}

const logJobConfig = (run: Run, job: AnyJob): Effect.Effect<void, MlflowError> =>
  Effect.gen(function* () {
    const params: Array<Param> = []
    for (const param of flattenConfig(job)) {
      const problem = validateParam(param)
      // The full config is saved as an artifact, so a value MLflow cannot hold as a param is skipped, not fatal.
      if (problem) yield* Effect.logWarning(`config value not logged as a param: ${problem.message}`)
      else params.push(param)
    }
    yield* run.logParams(Object.fromEntries(params.map((param) => [param.key, param.value])))
    yield* run.logJson(configValue(job), "job/config.json")
  })

/** The placeholder that replaces secrets in the config artifact. */
export const redactedPlaceholder = "<redacted>"

/**
 * A job's configuration as plain JSON-compatible data, secrets replaced by {@link redactedPlaceholder}.
 */
export const configValue = (value: unknown): unknown => {
  if (Redacted.isRedacted(value)) return redactedPlaceholder
  if (value instanceof Date) return value.toISOString()
  if (Array.isArray(value)) return value.map(configValue)
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, entry]) => [key, configValue(entry)]))
  }
  if (typeof value === "bigint") return value.toString()
  return value
}

/**
 * A job's configuration as MLflow params: nested keys joined with `.`, lists as JSON, and secrets left
 * out entirely (not even their key), as DESIGN §6 requires.
 */
export const flattenConfig = (job: object): ReadonlyArray<Param> => {
  const params: Array<Param> = []
  const visit = (value: unknown, key: string): void => {
    if (Redacted.isRedacted(value) || value === undefined || typeof value === "function") return
    if (typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Date)) {
      for (const [child, entry] of Object.entries(value)) visit(entry, key === "" ? child : `${key}.${child}`)
      return
    }
    const plain = configValue(value)
    params.push({ key, value: typeof plain === "string" ? plain : JSON.stringify(plain) })
  }
  visit(job, "")
  return params
}

export { ConfigError }
