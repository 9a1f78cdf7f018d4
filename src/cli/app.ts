/**
 * The `autogen-team` command line: `run`, `validate`, `schema` and `kinds` over a set of job kinds.
 *
 * A project ships its own bin with its own kinds through {@link make} / {@link main}:
 *
 * ```ts
 * #!/usr/bin/env node
 * import { Cli } from "autogen-team/cli"
 * import { TrainingJob, TuningJob } from "./jobs.js"
 * Cli.main([TrainingJob, TuningJob])
 * ```
 *
 * @module
 */

import * as Cause from "effect/Cause"
import { Argument, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Schema from "effect/Schema"
import { stringify } from "yaml"
import { ConfigError } from "../config/decode.js"
import { loadConfig } from "../config/load.js"
import { configValue, runJob } from "../jobs/base.js"
import { runLocation } from "../jobs/outcome.js"
import { ServiceStartError } from "../services/errors.js"
import { statusFromExit } from "../services/mlflow.js"
import { isInMemorySqliteUri } from "../tracking/sqlite-uri.js"
import type { RunInfo } from "../tracking/store.js"
import { decodeSettings, type JobKind, jsonSchema, loadJobModule, registry, type Settings } from "./registry.js"

/**
 * The command line was used wrongly or its configuration is invalid: nothing was started or written.
 * The CLI exits with code 2.
 */
export class InvocationError extends Schema.TaggedError<InvocationError>()("InvocationError", {
  message: Schema.String
}) {}

/** Options of {@link make}. */
export interface CliOptions {
  /** The command's name in help and messages; default `autogen-team`. */
  readonly name?: string | undefined
  /** Shown by `--version`. */
  readonly version?: string | undefined
}

const files = Argument.String("files").pipe(
  Argument.withDescription("Configuration files (YAML or JSON), merged in order: later files win."),
  Argument.atLeast(1)
)
const extras = Flag.String("extra").pipe(
  Flag.withAlias("e"),
  Flag.withDescription("YAML or JSON merged over the files, in order (repeatable), e.g. -e 'job: {epochs: 3}'."),
  Flag.atLeast(0)
)
const jobModules = Flag.String("jobs").pipe(
  Flag.withDescription("A module whose exported job classes are added to the known kinds (repeatable)."),
  Flag.atLeast(0)
)
const quiet = Flag.Boolean("quiet").pipe(
  Flag.withAlias("q"),
  Flag.withDescription("Do not print the one-line summary at the end of the run."),
  Flag.withDefault(false)
)

const writeErr = (text: string) => Effect.sync(() => void process.stderr.write(`${text}\n`))
const writeOut = (text: string) =>
  Effect.sync(() => void process.stdout.write(text.endsWith("\n") ? text : `${text}\n`))

/** Fails with an {@link InvocationError} after printing `error` (nothing was started). */
const invocation =
  (name: string) =>
  (error: ConfigError): Effect.Effect<never, InvocationError> =>
    Effect.andThen(writeErr(`${name}: ${error.message}`), Effect.fail(new InvocationError({ message: error.message })))

/**
 * Where to look at a run: as {@link runLocation} (a server's run page, "nowhere" for memory), except that an
 * SQLite path stays as the configuration wrote it: the summary is read where the job ran.
 */
export const whereToLook = (trackingUri: string, run?: RunInfo): string =>
  trackingUri.startsWith("sqlite:") && !isInMemorySqliteUri(trackingUri)
    ? `mlflow ui --backend-store-uri ${trackingUri}`
    : runLocation(trackingUri, run)

/** The services that failed to start in a job's exit: no logger reported those. */
const startFailures = (exit: Exit.Exit<unknown, unknown>): ReadonlyArray<ServiceStartError> =>
  Exit.isSuccess(exit)
    ? []
    : exit.cause.reasons.flatMap((reason) =>
        reason._tag === "Fail" && reason.error instanceof ServiceStartError ? [reason.error] : []
      )

/** The one-line summary printed on stderr after a run: JSON when the job logs JSON. */
export const summaryLine = (
  settings: Settings,
  run: RunInfo | undefined,
  exit: Exit.Exit<unknown, unknown>,
  durationSeconds: number
): string => {
  const job = settings.job
  const status = statusFromExit(exit)
  const view = whereToLook(job.mlflow_service.tracking_uri, run)
  if (job.logger_service.format === "json") {
    return JSON.stringify({
      summary: true,
      kind: job.KIND,
      run_id: run?.runId ?? null,
      status,
      duration_seconds: Number(durationSeconds.toFixed(3)),
      view
    })
  }
  const runText = run ? `run ${run.runId}` : "no run"
  return `${job.KIND} ${status} in ${durationSeconds.toFixed(2)} s (${runText}); view: ${view}`
}

/** The root command over `kinds`. */
export const make = (kinds: ReadonlyArray<JobKind>, options: CliOptions = {}) => {
  const name = options.name ?? "autogen-team"
  const known = (modules: ReadonlyArray<string>) =>
    Effect.forEach(modules, (module) => loadJobModule(module)).pipe(
      Effect.flatMap((loaded) => registry([...kinds, ...loaded.flat()]))
    )
  const settingsFrom = (paths: ReadonlyArray<string>, extra: ReadonlyArray<string>, modules: ReadonlyArray<string>) =>
    Effect.gen(function* () {
      const byKind = yield* known(modules)
      const loaded = yield* loadConfig({ files: paths, extras: extra })
      return yield* decodeSettings(byKind, loaded)
    }).pipe(Effect.catchTag("ConfigError", invocation(name)))

  const run = Command.make(
    "run",
    { files, extras, jobs: jobModules, quiet },
    Effect.fnUntraced(function* (input) {
      const settings = yield* settingsFrom(input.files, input.extras, input.jobs)
      let runInfo: RunInfo | undefined
      const started = performance.now()
      // A kind run from a configuration file gets the three services and nothing else.
      const job = runJob(settings.job, {
        onRunStart: (info) => {
          runInfo = info
        }
      }) as Effect.Effect<unknown, unknown>
      yield* job.pipe(
        Effect.onExit((exit) =>
          Effect.andThen(
            // A service that did not start (the tracking server unreachable, say) left no logger to say why.
            Effect.forEach(startFailures(exit), (error) => writeErr(error.message), { discard: true }),
            input.quiet
              ? Effect.void
              : writeErr(summaryLine(settings, runInfo, exit, (performance.now() - started) / 1000))
          )
        ),
        // The logger already wrote the job's own failure; what is left is the exit code (1).
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.fail(new JobFailed())
        )
      )
    })
  ).pipe(
    Command.withDescription(
      "Run the job a configuration describes, with its logger, alerts and MLflow run. " +
        "Exit codes: 0 success, 1 job failed, 2 bad invocation or configuration, 130 SIGINT, 143 SIGTERM."
    ),
    Command.withExamples([
      { command: `${name} run confs/tuning.yaml`, description: "Run a job" },
      {
        command: `${name} run confs/tuning.yaml -e 'job: {epochs: 3}' -e '{"job": {"seed": 7}}'`,
        description: "Override values for one run"
      }
    ])
  )

  const validate = Command.make(
    "validate",
    { files, extras, jobs: jobModules },
    Effect.fnUntraced(function* (input) {
      const settings = yield* settingsFrom(input.files, input.extras, input.jobs)
      yield* writeOut(stringify({ job: configValue(settings.job) }))
    })
  ).pipe(
    Command.withDescription(
      "Check a configuration and print it normalized (defaults filled, secrets masked); starts and writes nothing."
    )
  )

  const schema = Command.make(
    "schema",
    { jobs: jobModules },
    Effect.fnUntraced(function* (input) {
      const byKind = yield* known(input.jobs).pipe(Effect.catchTag("ConfigError", invocation(name)))
      yield* writeOut(JSON.stringify(jsonSchema([...byKind.values()]), null, 2))
    })
  ).pipe(Command.withDescription("Print the JSON Schema of configuration files for every known job kind."))

  const kindsCommand = Command.make(
    "kinds",
    { jobs: jobModules },
    Effect.fnUntraced(function* (input) {
      const byKind = yield* known(input.jobs).pipe(Effect.catchTag("ConfigError", invocation(name)))
      yield* writeOut([...byKind.keys()].join("\n"))
    })
  ).pipe(Command.withDescription("List the known job kinds, one per line."))

  return Command.make(name).pipe(
    Command.withDescription("Run ML jobs with a logger, alerts and MLflow tracking, from YAML/JSON configurations."),
    Command.withSubcommands([run, validate, schema, kindsCommand])
  )
}

/** The job failed; the logger and the summary already said how. The CLI exits with code 1. */
export class JobFailed extends Schema.TaggedError<JobFailed>()("JobFailed", {}) {}

export { ConfigError }
