/**
 * The Logger service: every log line of a job — its own `Effect.log*` calls and the services' `[START]` /
 * `[STOP]` lines — goes through the sink configured here, for exactly the lifetime of the job's scope.
 *
 * @module
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs"
import { dirname } from "node:path"
import { inspect } from "node:util"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as EffectLogger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"
import * as Schema from "effect/Schema"
import { withDefault } from "../internal/schema.js"
import { ServiceStartError } from "./errors.js"

/** Log levels accepted in configuration, most verbose first. */
export const LogLevelName = Schema.Literals(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"])
/** A log level accepted in configuration. */
export type LogLevelName = typeof LogLevelName.Type

const toEffectLevel: Record<LogLevelName, LogLevel.LogLevel> = {
  TRACE: "Trace",
  DEBUG: "Debug",
  INFO: "Info",
  WARN: "Warn",
  ERROR: "Error",
  FATAL: "Fatal"
}

/** Configuration of the logger service (`logger_service` in a job's config). */
export const LoggerConfig = Schema.Struct({
  /** `stderr`, `stdout`, or a file path (appended to; parent directories are created). */
  sink: Schema.NonEmptyString.pipe(
    withDefault("stderr", "Where lines go: stderr, stdout, or a file path (appended to).")
  ),
  /** Minimum level written; the Python original also defaults to DEBUG. */
  level: LogLevelName.pipe(withDefault<typeof LogLevelName>("DEBUG", "Minimum level written.")),
  /** `pretty` for people, `logfmt` or `json` for machines. */
  format: Schema.Literals(["pretty", "logfmt", "json"]).pipe(
    withDefault<Schema.Literals<readonly ["pretty", "logfmt", "json"]>>(
      "pretty",
      "Line format: pretty, logfmt or json."
    )
  ),
  /** Colour the level in `pretty` lines; only ever applied on a terminal. */
  colorize: Schema.Boolean.pipe(withDefault(true, "Colour pretty lines when the sink is a terminal."))
})
/** Decoded logger configuration. */
export type LoggerConfig = typeof LoggerConfig.Type

/** The logger configuration used when a job's config says nothing. */
export const defaultLoggerConfig: LoggerConfig = Schema.decodeUnknownSync(LoggerConfig)({})

/** One line as the test layer captures it. */
export interface CapturedLog {
  readonly level: LogLevelName
  /** The message parts joined by spaces, as `pretty` prints them. */
  readonly message: string
  readonly annotations: Readonly<Record<string, unknown>>
  readonly date: Date
}

/**
 * The running logger of a job. Jobs log with `Effect.log*`; this handle tells what the logger writes to.
 */
export class Logger extends Context.Service<
  Logger,
  {
    /** The configuration the logger was started with. */
    readonly config: LoggerConfig
    /** The file the logger appends to, when its sink is a file. */
    readonly file: string | undefined
  }
>()("autogen-team/services/Logger") {
  /**
   * The real logger (missing options take their defaults): opens the sink, installs it as the only Effect logger at the configured level, writes
   * `[START] Logger` at DEBUG; on release writes `[STOP] Logger` as its last line, then closes the file.
   */
  static readonly layer = (options: Partial<LoggerConfig> = {}): Layer.Layer<Logger, ServiceStartError> =>
    Layer.effectContext(
      Effect.gen(function* () {
        const config: LoggerConfig = { ...defaultLoggerConfig, ...options }
        const sink = yield* Effect.acquireRelease(
          Effect.try({
            try: () => openSink(config.sink),
            catch: (cause) =>
              new ServiceStartError({
                service: "Logger",
                reason: `cannot open log sink ${JSON.stringify(config.sink)}: ${errorText(cause)}`,
                cause
              })
          }),
          (sink) => Effect.sync(() => sink.close())
        )
        const format = formatter(config, sink.isTerminal)
        const logger = EffectLogger.make((options) => sink.write(`${format(options)}\n`))
        return yield* install(
          Logger.of({ config, file: sink.file }),
          logger,
          toEffectLevel[config.level],
          `sink=${config.sink} level=${config.level} format=${config.format}`
        )
      })
    )

  /**
   * The logger for tests: captures every line (all levels) into the {@link LogCapture} provided around the
   * job, so a test can assert on what the job and the services logged.
   */
  static readonly layerTest: Layer.Layer<Logger, never, LogCapture> = Layer.effectContext(
    Effect.gen(function* () {
      const capture = yield* LogCapture
      const logger = EffectLogger.make((options) => capture.record(toCaptured(options)))
      const config = { ...defaultLoggerConfig, sink: "memory", level: "TRACE" } as const
      return yield* install(Logger.of({ config, file: undefined }), logger, "Trace", "sink=memory level=TRACE")
    })
  )
}

/** Where {@link Logger.layerTest} puts the lines it captures; provide {@link LogCapture.layer} around a test. */
export class LogCapture extends Context.Service<
  LogCapture,
  {
    /** Appends a captured line. */
    readonly record: (line: CapturedLog) => void
    /** Every line captured so far, oldest first. */
    readonly lines: Effect.Effect<ReadonlyArray<CapturedLog>>
  }
>()("autogen-team/services/LogCapture") {
  /** A fresh, empty capture. */
  static readonly layer: Layer.Layer<LogCapture> = Layer.sync(LogCapture, () => {
    const captured: Array<CapturedLog> = []
    return LogCapture.of({
      record: (line) => {
        captured.push(line)
      },
      lines: Effect.sync(() => [...captured])
    })
  })

  /** Every line captured so far, oldest first. */
  static readonly lines: Effect.Effect<ReadonlyArray<CapturedLog>, never, LogCapture> = LogCapture.use(
    (capture) => capture.lines
  )
}

// Installs `logger` as the only logger at `level` for everything built on top of this layer, and writes the
// START/STOP lines through it. The layer's own build and finalizers run outside that context, hence `through`.
const install = Effect.fnUntraced(function* (
  service: Logger["Service"],
  logger: EffectLogger.Logger<unknown, unknown>,
  level: LogLevel.LogLevel,
  summary: string
) {
  const loggers: ReadonlySet<EffectLogger.Logger<unknown, unknown>> = new Set([logger])
  const through = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.provideService(EffectLogger.CurrentLoggers, loggers),
      Effect.provideService(References.MinimumLogLevel, level)
    )
  yield* through(Effect.logDebug(`[START] Logger: ${summary}`))
  yield* Effect.addFinalizer(() => through(Effect.logDebug("[STOP] Logger")))
  return Context.make(Logger, service).pipe(
    Context.add(EffectLogger.CurrentLoggers, loggers),
    Context.add(References.MinimumLogLevel, level)
  )
})

interface Sink {
  readonly file: string | undefined
  readonly isTerminal: boolean
  readonly write: (text: string) => void
  readonly close: () => void
}

// Synchronous writes: a line is on disk (or the terminal) when the log call returns, so a crash, a signal or
// the process exiting right after the job loses nothing, and lines from concurrent fibers never interleave.
const openSink = (sink: string): Sink => {
  if (sink === "stderr" || sink === "stdout") {
    const fd = sink === "stderr" ? 2 : 1
    const stream = sink === "stderr" ? process.stderr : process.stdout
    return { file: undefined, isTerminal: stream.isTTY === true, write: (text) => writeAll(fd, text), close: () => {} }
  }
  mkdirSync(dirname(sink), { recursive: true })
  const fd = openSync(sink, "a")
  let open = true
  return {
    file: sink,
    isTerminal: false,
    write: (text) => {
      if (open) writeAll(fd, text)
    },
    close: () => {
      if (open) {
        open = false
        closeSync(fd)
      }
    }
  }
}

const writeAll = (fd: number, text: string): void => {
  const bytes = Buffer.from(text)
  let offset = 0
  while (offset < bytes.length) {
    try {
      offset += writeSync(fd, bytes, offset)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      // The pipe's reader is gone (`job | head`): nobody can read the line, and logging must not fail the job.
      if (code === "EPIPE") return
      // A non-blocking pipe (stdout piped to a slow reader) reports EAGAIN: retry instead of dropping the line.
      if (code !== "EAGAIN") throw error
    }
  }
}

const levelName = (level: LogLevel.LogLevel): LogLevelName => {
  switch (level) {
    case "Trace":
    case "All":
      return "TRACE"
    case "Debug":
      return "DEBUG"
    case "Info":
      return "INFO"
    case "Warn":
      return "WARN"
    case "Error":
      return "ERROR"
    default:
      return "FATAL"
  }
}

const colors: Record<LogLevelName, string> = {
  TRACE: "\x1b[90m",
  DEBUG: "\x1b[36m",
  INFO: "\x1b[32m",
  WARN: "\x1b[33m",
  ERROR: "\x1b[31m",
  FATAL: "\x1b[35m"
}

/** Renders a log message (one value or the parts of `Effect.log(a, b, …)`) as one line of text. */
export const messageText = (message: unknown): string =>
  (Array.isArray(message) ? message : [message])
    .map((part) =>
      // `compact: true`: with an infinite breakLength, inspect still groups long arrays into multi-line columns.
      typeof part === "string"
        ? part
        : inspect(part, { depth: 4, breakLength: Number.POSITIVE_INFINITY, compact: true })
    )
    .join(" ")

const formatter = (config: LoggerConfig, isTerminal: boolean): ((options: EffectLogger.Options<unknown>) => string) => {
  switch (config.format) {
    case "json":
      return (options) => EffectLogger.formatJson.log(options)
    case "logfmt":
      return (options) => EffectLogger.formatLogFmt.log(options)
    case "pretty": {
      const color = config.colorize && isTerminal
      return (options) => {
        const level = levelName(options.logLevel)
        const shownLevel = color ? `${colors[level]}${level.padEnd(5)}\x1b[0m` : level.padEnd(5)
        const annotations = Object.entries(currentAnnotations(options))
          .map(([key, value]) => ` ${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
          .join("")
        const cause = options.cause.reasons.length > 0 ? `\n${Cause.pretty(options.cause)}` : ""
        return `${options.date.toISOString()} | ${shownLevel} | ${messageText(options.message)}${annotations}${cause}`
      }
    }
  }
}

const currentAnnotations = (options: EffectLogger.Options<unknown>): Readonly<Record<string, unknown>> =>
  options.fiber.getRef(References.CurrentLogAnnotations)

const toCaptured = (options: EffectLogger.Options<unknown>): CapturedLog => ({
  level: levelName(options.logLevel),
  message: messageText(options.message),
  annotations: currentAnnotations(options),
  date: options.date
})

const errorText = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))
