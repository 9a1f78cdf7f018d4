/**
 * The built-in job kind {@link CommandJob}: any program (a Python training script, a shell tool, a binary)
 * run as a tracked, alerted job.
 *
 * The program runs in its own process group, so stopping it — on timeout, or when the job's fiber is
 * interrupted (the CLI receiving SIGTERM, say) — reaches everything it started: SIGTERM first, SIGKILL after
 * {@link terminationGraceSeconds}, and the job waits until they are gone. Its output is logged line by line
 * through the job's logger and kept whole as the run's artifacts `command/stdout.txt` and
 * `command/stderr.txt`.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process"
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs"
import { constants as osConstants, tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { StringDecoder } from "node:string_decoder"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { Mlflow, type MlflowError, type NoActiveRunError, type Run } from "../services/mlflow.js"
import { Job } from "./base.js"

/** Seconds a stopped command gets between SIGTERM and SIGKILL to save its work and exit. */
export const terminationGraceSeconds = 5

/**
 * Longest tail of each output kept in the job's locals, in characters. The whole output is an artifact;
 * locals stay in memory (and may be printed or serialized by callers), so a chatty program must not make
 * them unbounded.
 */
export const outputTailLength = 64 * 1024

// Node rejects argv, cwd and env strings containing NUL, and its error quotes the value: refusing them at
// decoding keeps an env secret out of that message.
const withoutNul = Schema.makeFilter((text: string) => !text.includes("\0") || "must not contain NUL characters")

/**
 * An environment value: decoded from a plain string into a `Redacted`, so the job's config logging (params,
 * `job/config.json`), its logs and `String(job)` never show it. Constructing a job with `new` takes
 * `Redacted.make("…")` values.
 */
export const EnvValue = Schema.RedactedFromValue(
  // Without its own message, a wrong type is reported with the value ("got 1234"): a PIN left unquoted in
  // YAML would end up in the ConfigError.
  Schema.String.annotate({ message: "Expected a string (the value is a secret and is not shown)" })
).check(
  Schema.makeFilter(
    (value: Redacted.Redacted<string>) =>
      // The check sees the Redacted, so a failing value is never quoted in the ConfigError.
      !Redacted.value(value).includes("\0") || "must not contain NUL characters"
  )
)

/** An environment variable name: what POSIX `setenv` accepts (no `=`, no NUL). */
export const EnvName = Schema.NonEmptyString.check(
  Schema.isPattern(/^[^=\0]+$/, { message: "must not contain '=' or NUL characters" })
)

/** The program and its arguments (argv: no shell, so nothing is interpreted or expanded). */
export const CommandArgv = Schema.NonEmptyArray(Schema.NonEmptyString.check(withoutNul))

/** Why a {@link CommandJob} failed. */
export const CommandFailureReason = Schema.Literals(["exit", "timeout", "spawn"])
/** Why a {@link CommandJob} failed: a non-zero exit or a signal, its timeout, or it could not be started. */
export type CommandFailureReason = typeof CommandFailureReason.Type

/**
 * The command of a {@link CommandJob} did not succeed: it exited with a non-zero code or was killed by a
 * signal (`exit`), ran longer than its `timeout` and was stopped (`timeout`), or could not be started at all
 * (`spawn`: program not found, not executable, missing working directory).
 */
export class CommandFailedError extends Schema.TaggedError<CommandFailedError>()("CommandFailedError", {
  /** The command's argv. */
  command: CommandArgv,
  reason: CommandFailureReason,
  /** The exit code, or `null` when the process was killed by a signal or never started. */
  exitCode: Schema.NullOr(Schema.Int),
  /** The signal that ended the process (`SIGKILL`…), or `null`. */
  signal: Schema.NullOr(Schema.String),
  /** The timeout that expired, in seconds (reason `timeout`). */
  timeout: Schema.optionalKey(Schema.Number),
  /** What the operating system said (reason `spawn`). */
  detail: Schema.optionalKey(Schema.String)
}) {
  override get message(): string {
    const command = `command ${displayCommand(this.command)}`
    const ended = this.signal === null ? `exited with code ${this.exitCode}` : `was killed by signal ${this.signal}`
    if (this.reason === "spawn") return `${command} could not be started: ${this.detail ?? "unknown error"}`
    if (this.reason === "timeout") return `${command} timed out after ${this.timeout} s and was stopped (it ${ended})`
    return `${command} ${ended}`
  }
}

/**
 * What a successful {@link CommandJob} returns. `stdout` and `stderr` are the outputs when they fit in
 * {@link outputTailLength} characters, otherwise their last lines up to that length (compare with the byte
 * counts); the whole outputs are the run's artifacts `command/stdout.txt` and `command/stderr.txt`.
 */
export type CommandLocals = {
  /** Always 0: any other exit fails the job. */
  readonly exitCode: number
  /** From start to the process and its outputs being closed, in seconds. */
  readonly durationSeconds: number
  readonly stdout: string
  readonly stderr: string
  /** Size of the whole stdout, in bytes. */
  readonly stdoutBytes: number
  /** Size of the whole stderr, in bytes. */
  readonly stderrBytes: number
}

/**
 * Runs a program as a job:
 *
 * ```ts
 * const job = new CommandJob({ command: ["python", "train.py", "--epochs", "3"], timeout: 3600 })
 * const { durationSeconds } = await Effect.runPromise(runJob(job))
 * ```
 *
 * or from a config file (`env` values are plain strings there, decoded into `Redacted`):
 *
 * ```json
 * { "KIND": "CommandJob", "command": ["python", "train.py"], "env": { "HF_TOKEN": "…" }, "timeout": 3600 }
 * ```
 *
 * Fields: `command` (argv, no shell), `cwd` (defaults to the current directory), `env` (added to the
 * current environment; values are secrets, never logged, tracked or shown: plain strings in config files,
 * `Redacted.make("…")` with `new`), `timeout` (seconds; none by default).
 *
 * Every output line is logged at INFO with the annotation `stream=stdout` or `stream=stderr` (INFO for
 * stderr too: programs write progress and Python's `logging` writes everything there, and the exit code,
 * not the stream, says whether something went wrong). The run gets the metrics `exit_code` (128 + signal
 * number when killed by a signal, as shells report it) and `duration_seconds`, the tag
 * `command.exit_signal` when a signal ended it, and the artifacts `command/stdout.txt` and
 * `command/stderr.txt`. A non-zero exit, a timeout or a program that cannot start fail the job with
 * {@link CommandFailedError}, so the run ends FAILED and the runner sends its failure alert
 * (`CommandJob failed`, with the error, run, duration and where to look) — one per failure.
 *
 * Processes the command leaves running in its process group when it exits are stopped too. Processes that
 * leave the group (a daemon calling `setsid`) are out of reach, as they are for a shell's job control.
 */
export class CommandJob extends Job<CommandJob>()("CommandJob", {
  command: CommandArgv.annotate({ description: "The program and its arguments (no shell)." }),
  cwd: Schema.optionalKey(Schema.NonEmptyString.check(withoutNul)).annotate({
    description: "Working directory of the program; defaults to the current one."
  }),
  env: Schema.optionalKey(Schema.Record(EnvName, EnvValue)).annotate({
    description: "Variables added to the current environment; values are secrets, never logged or tracked."
  }),
  timeout: Schema.optionalKey(Schema.Finite.check(Schema.isGreaterThan(0))).annotate({
    description: "Seconds the program may run before it is stopped (SIGTERM, then SIGKILL)."
  })
}) {
  /** Runs the command; see {@link CommandJob}. */
  run(): Effect.Effect<CommandLocals, CommandFailedError | MlflowError | NoActiveRunError> {
    return runCommand({
      command: this.command,
      cwd: this.cwd,
      env: this.env,
      timeout: this.timeout
    })
  }
}

interface CommandSpec {
  readonly command: readonly [string, ...Array<string>]
  readonly cwd: string | undefined
  readonly env: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
  readonly timeout: number | undefined
}

type StreamName = "stdout" | "stderr"

interface OutputLine {
  readonly stream: StreamName
  readonly text: string
}

/** One output of the child: spooled to a file for the artifact, split into lines for the logger. */
interface Output {
  readonly path: string
  readonly write: (chunk: Buffer) => void
  /** Emits the last, unterminated line; idempotent, as both 'end' and 'close' call it. */
  readonly end: () => void
  readonly bytes: () => number
  readonly tail: () => string
  /** Why the spool file is incomplete, if it is. */
  readonly spoolError: () => string | undefined
}

/** The running child and what it has told us so far, updated by its event handlers. */
interface Child {
  readonly process: ChildProcess | undefined
  readonly startedAt: number
  exit: { readonly code: number | null; readonly signal: NodeJS.Signals | null } | undefined
  spawnError: NodeJS.ErrnoException | undefined
  /** The process exited (or never started) and both its pipes are closed. */
  closed: boolean
  readonly lines: Array<OutputLine>
  readonly stdout: Output
  readonly stderr: Output
  /** Called on every event, so waits re-check their condition without polling. */
  readonly listeners: Set<() => void>
}

interface Outcome {
  readonly exitCode: number | null
  readonly signal: NodeJS.Signals | null
  readonly spawnError: NodeJS.ErrnoException | undefined
  readonly timedOut: boolean
  readonly durationSeconds: number
}

// A line without a newline this long is logged in pieces: a program printing megabytes without newlines
// (binary data, a progress bar) must not grow the buffer without bound.
const maxLineLength = 64 * 1024
// setTimeout fires at once for delays beyond 2^31-1 ms (24.8 days); such a timeout is no timeout.
const maxTimerDelay = 2 ** 31 - 1
// How often a stop re-checks the process group, whose members send no events.
const groupPollMs = 50
// Once the group is gone its pipes drain in moments; pipes still open after this are held by processes that
// left the group (setsid), which may never close them.
const pipeCloseWaitMs = 1000
const maxDisplayLength = 200

const runCommand = (
  spec: CommandSpec
): Effect.Effect<CommandLocals, CommandFailedError | MlflowError | NoActiveRunError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const run = yield* Mlflow.currentRun
      const display = displayCommand(spec.command)
      const spool = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "autogen-command-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      let recorded = false
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => start(spec, spool)),
        (child, exit) =>
          // Runs on every exit; after a normal end everything below is already done and returns at once. On
          // interruption it is what stops the process tree and keeps its output before the run ends KILLED.
          Effect.gen(function* () {
            yield* stop(child)
            yield* logLines(child)
            if (!recorded && Exit.isFailure(exit)) {
              yield* record(run, child, outcomeOf(child, false)).pipe(
                Effect.catch((error) => Effect.logWarning(`command output not saved with the run: ${error.message}`))
              )
            }
          })
      )
      if (child.process?.pid !== undefined) {
        yield* Effect.logInfo(`command started: ${display} (pid ${child.process.pid})`)
      }
      const outcome = yield* supervise(child, spec, display)
      // Set before recording: a record that fails half-way is not repeated by the release.
      recorded = true
      yield* record(run, child, outcome)
      const failure = failureOf(spec, outcome)
      // No log line or alert here: the runner logs the job's failure, with this error, and sends its one
      // failure alert (`CommandJob failed`, with the run, duration and where to look).
      if (failure !== undefined) return yield* failure
      yield* Effect.logInfo(
        `command finished: ${display} exited with code 0 in ${outcome.durationSeconds.toFixed(3)} s`
      )
      return {
        exitCode: 0,
        durationSeconds: outcome.durationSeconds,
        stdout: child.stdout.tail(),
        stderr: child.stderr.tail(),
        stdoutBytes: child.stdout.bytes(),
        stderrBytes: child.stderr.bytes()
      } satisfies CommandLocals
    })
  )

const start = (spec: CommandSpec, spool: string): Child => {
  const listeners = new Set<() => void>()
  const changed = () => {
    for (const listener of [...listeners]) listener()
  }
  const lines: Array<OutputLine> = []
  const emit = (line: OutputLine) => {
    lines.push(line)
    changed()
  }
  const stdout = makeOutput("stdout", join(spool, "stdout.txt"), emit)
  const stderr = makeOutput("stderr", join(spool, "stderr.txt"), emit)
  const [program, ...args] = spec.command
  const env =
    spec.env === undefined
      ? process.env
      : {
          ...process.env,
          ...Object.fromEntries(Object.entries(spec.env).map(([key, value]) => [key, Redacted.value(value)]))
        }
  const startedAt = performance.now()
  let spawned: ChildProcess
  try {
    spawned = spawn(program, args, {
      cwd: spec.cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group (a new session, on POSIX), so one signal to the group reaches every process
      // the command starts — and the terminal's Ctrl-C does not bypass the job's orderly stop.
      detached: true,
      windowsHide: true
    })
  } catch (error) {
    // Invalid arguments throw synchronously; the schema refuses what Node would, so this is a last resort.
    stdout.end()
    stderr.end()
    const spawnError = error instanceof Error ? (error as NodeJS.ErrnoException) : new Error(String(error))
    return {
      process: undefined,
      startedAt,
      exit: undefined,
      spawnError,
      closed: true,
      lines,
      stdout,
      stderr,
      listeners
    }
  }
  const child: Child = {
    process: spawned,
    startedAt,
    exit: undefined,
    spawnError: undefined,
    closed: false,
    lines,
    stdout,
    stderr,
    listeners
  }
  const pipe = (stream: NodeJS.ReadableStream | null, output: Output) => {
    stream?.on("data", (chunk: Buffer) => output.write(chunk))
    stream?.on("end", output.end)
    stream?.on("close", output.end)
    // A read error on a pipe would otherwise be an uncaught exception; the pipe closes and the job goes on.
    stream?.on("error", () => {})
  }
  pipe(spawned.stdout, stdout)
  pipe(spawned.stderr, stderr)
  spawned.on("error", (error: NodeJS.ErrnoException) => {
    // 'error' also reports a failed kill(); only a process that never started has no pid.
    if (spawned.pid === undefined) child.spawnError = error
    changed()
  })
  spawned.on("exit", (code, signal) => {
    child.exit = { code, signal }
    changed()
  })
  spawned.on("close", () => {
    // Node may report 'close' before our own 'close' listeners on a destroyed pipe: flush the last lines first.
    stdout.end()
    stderr.end()
    child.closed = true
    changed()
  })
  return child
}

const makeOutput = (stream: StreamName, path: string, emit: (line: OutputLine) => void): Output => {
  const decoder = new StringDecoder("utf8")
  let fd: number | undefined
  let spoolError: string | undefined
  try {
    fd = openSync(path, "w")
  } catch (error) {
    spoolError = errorText(error)
  }
  let bytes = 0
  let partial = ""
  let tail = ""
  let truncated = false
  let ended = false

  const emitLine = (raw: string) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw
    // A carriage return redraws the line on a terminal (progress bars): log what the terminal would show.
    emit({ stream, text: line.slice(line.lastIndexOf("\r") + 1) })
  }
  const push = (text: string) => {
    tail += text
    if (tail.length > 2 * outputTailLength) {
      tail = tail.slice(-outputTailLength)
      truncated = true
    }
    partial += text
    let newline = partial.indexOf("\n")
    while (newline >= 0) {
      emitLine(partial.slice(0, newline))
      partial = partial.slice(newline + 1)
      newline = partial.indexOf("\n")
    }
    while (partial.length > maxLineLength) {
      emitLine(partial.slice(0, maxLineLength))
      partial = partial.slice(maxLineLength)
    }
  }

  return {
    path,
    write: (chunk) => {
      bytes += chunk.length
      if (fd !== undefined && spoolError === undefined) {
        try {
          let offset = 0
          while (offset < chunk.length) offset += writeSync(fd, chunk, offset)
        } catch (error) {
          // A full disk must not crash the job from inside an event handler; the gap is reported when saved.
          spoolError = errorText(error)
        }
      }
      push(decoder.write(chunk))
    },
    end: () => {
      if (ended) return
      ended = true
      push(decoder.end())
      if (partial !== "") emitLine(partial)
      partial = ""
      if (fd !== undefined) {
        try {
          closeSync(fd)
        } catch (error) {
          spoolError ??= errorText(error)
        }
        fd = undefined
      }
    },
    bytes: () => bytes,
    tail: () => trimTail(tail, truncated),
    spoolError: () => spoolError
  }
}

// The last outputTailLength characters, starting on a line boundary when there is one. `truncated`: the
// text was already cut (at an arbitrary point) to bound memory, so it must not be returned as is.
const trimTail = (text: string, truncated: boolean): string => {
  if (!truncated && text.length <= outputTailLength) return text
  let cut = text.slice(-outputTailLength)
  const newline = cut.indexOf("\n")
  if (newline >= 0 && newline < cut.length - 1) cut = cut.slice(newline + 1)
  // slice() may have split a surrogate pair; a lone low surrogate would render as garbage.
  const first = cut.charCodeAt(0)
  return first >= 0xdc00 && first <= 0xdfff ? cut.slice(1) : cut
}

/**
 * Waits — in wall-clock time, as the child runs in real time, so a `TestClock` cannot freeze it — until
 * `done()` holds (true) or `timeoutMs` passes (false). It re-checks on every child event, and every
 * `pollMs` for conditions no event announces.
 */
const waitFor = (
  child: Child,
  done: () => boolean,
  options: { readonly timeoutMs?: number | undefined; readonly pollMs?: number | undefined } = {}
): Effect.Effect<boolean> =>
  Effect.callback<boolean>((resume) => {
    if (done()) return resume(Effect.succeed(true))
    let timer: NodeJS.Timeout | undefined
    let poll: NodeJS.Timeout | undefined
    const cleanup = () => {
      child.listeners.delete(check)
      clearTimeout(timer)
      clearInterval(poll)
    }
    const finish = (value: boolean) => {
      cleanup()
      resume(Effect.succeed(value))
    }
    function check() {
      if (done()) finish(true)
    }
    child.listeners.add(check)
    if (options.pollMs !== undefined) poll = setInterval(check, options.pollMs)
    if (options.timeoutMs !== undefined && options.timeoutMs <= maxTimerDelay) {
      timer = setTimeout(() => finish(done()), options.timeoutMs)
    }
    return Effect.sync(cleanup)
  })

const leaderDone = (child: Child): boolean => child.exit !== undefined || child.spawnError !== undefined

/**
 * Whether any live process is left in the child's process group. Zombies do not count: in a container
 * whose init does not reap orphans, a dead grandchild stays a group member forever.
 */
const groupAlive = (child: Child): boolean => {
  const pgid = child.process?.pid
  if (pgid === undefined) return false
  if (process.platform === "win32") return child.exit === undefined
  try {
    process.kill(-pgid, 0)
  } catch (error) {
    // EPERM: a member runs as another user (setuid), so the group is not empty.
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
  return process.platform === "linux" && procIsOurs() ? groupHasLiveMember(pgid) : true
}

let procShowsOurPids: boolean | undefined
// A /proc from another PID namespace would list other processes: then only kill(0) can be trusted.
const procIsOurs = (): boolean => {
  if (procShowsOurPids === undefined) {
    try {
      procShowsOurPids = readFileSync("/proc/self/stat", "latin1").startsWith(`${process.pid} `)
    } catch {
      procShowsOurPids = false
    }
  }
  return procShowsOurPids
}

const groupHasLiveMember = (pgid: number): boolean => {
  let entries: Array<string>
  try {
    entries = readdirSync("/proc")
  } catch {
    return true
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "latin1")
    } catch {
      continue // exited while we looked
    }
    // Fields after "(comm)", which may itself contain spaces: state, ppid, pgrp, …
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (pgrp === String(pgid) && state !== "Z" && state !== "X") return true
  }
  return false
}

const signalGroup = (child: Child, signal: NodeJS.Signals): void => {
  const pid = child.process?.pid
  if (pid === undefined) return
  try {
    if (process.platform === "win32") child.process?.kill(signal)
    else process.kill(-pid, signal)
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Stops the child's whole process group and waits until it is gone and its pipes are closed: SIGTERM, then
 * SIGKILL after {@link terminationGraceSeconds}. With nothing left running it only waits for the pipes to
 * drain. Every wait is bounded except for the exit of a SIGKILLed process, so callers may run it
 * uninterruptibly.
 */
const stop = Effect.fnUntraced(function* (child: Child) {
  // leaderDone first: while the program runs, no /proc scan is needed to know the group is alive.
  const gone = () => leaderDone(child) && !groupAlive(child)
  if (!gone()) {
    signalGroup(child, "SIGTERM")
    const terminated = yield* waitFor(child, gone, { timeoutMs: terminationGraceSeconds * 1000, pollMs: groupPollMs })
    if (!terminated) {
      signalGroup(child, "SIGKILL")
      yield* waitFor(child, () => leaderDone(child))
      const killed = yield* waitFor(child, () => !groupAlive(child), {
        timeoutMs: terminationGraceSeconds * 1000,
        pollMs: groupPollMs
      })
      if (!killed) yield* Effect.logWarning("processes of the command are still running after SIGKILL")
    }
  }
  if (!(yield* waitFor(child, () => child.closed, { timeoutMs: pipeCloseWaitMs }))) {
    // A process that left the group (setsid) still holds the pipes: stop reading rather than wait for it.
    child.process?.stdout?.destroy()
    child.process?.stderr?.destroy()
    yield* waitFor(child, () => child.closed)
  }
})

/** Logs the child's output lines as they come, until its pipes are closed and every line is logged. */
const logLines = Effect.fnUntraced(function* (child: Child) {
  let logged = 1
  while (logged > 0) {
    yield* waitFor(child, () => child.lines.length > 0 || child.closed)
    // Taking a batch and logging it is one uninterruptible step: an interruption between the two would lose
    // the batch, which the release logs otherwise (whatever is still queued).
    logged = yield* Effect.uninterruptible(
      Effect.suspend(() => {
        const batch = child.lines.splice(0)
        return Effect.as(
          Effect.forEach(batch, (line) => Effect.annotateLogs(Effect.logInfo(line.text), { stream: line.stream }), {
            discard: true
          }),
          batch.length
        )
      })
    )
  }
})

/** Runs the child to its end, or stops it at its timeout; also stops what it leaves behind. */
const supervise = Effect.fnUntraced(function* (child: Child, spec: CommandSpec, display: string) {
  const lineLogger = yield* Effect.forkChild(logLines(child))
  const exited = yield* waitFor(child, () => leaderDone(child), {
    timeoutMs: spec.timeout === undefined ? undefined : spec.timeout * 1000
  })
  if (!exited) {
    yield* Effect.logWarning(
      `command ${display} timed out after ${spec.timeout} s: stopping it (SIGTERM, SIGKILL after ${terminationGraceSeconds} s)`
    )
  } else if (groupAlive(child)) {
    yield* Effect.logWarning(`command ${display} exited but left processes running in its process group: stopping them`)
  }
  // Uninterruptible: a stop must not be cut between SIGTERM and SIGKILL; an interruption waits for it.
  yield* Effect.uninterruptible(stop(child))
  yield* Fiber.join(lineLogger)
  return outcomeOf(child, !exited)
})

const outcomeOf = (child: Child, timedOut: boolean): Outcome => ({
  exitCode: child.exit?.code ?? null,
  signal: child.exit?.signal ?? null,
  spawnError: child.spawnError,
  timedOut,
  durationSeconds: (performance.now() - child.startedAt) / 1000
})

/** Logs what the run keeps of the command: metrics, the exit signal, and the whole outputs. */
const record = Effect.fnUntraced(function* (run: Run, child: Child, outcome: Outcome) {
  const metrics: Record<string, number> = { duration_seconds: outcome.durationSeconds }
  const exitCode = outcome.exitCode ?? signalExitCode(outcome.signal)
  if (exitCode !== undefined) metrics.exit_code = exitCode
  yield* run.logMetrics(metrics)
  if (outcome.signal !== null) yield* run.setTag("command.exit_signal", outcome.signal)
  if (child.process?.pid === undefined) return
  for (const output of [child.stdout, child.stderr]) {
    yield* run.logArtifact(output.path, "command")
    const problem = output.spoolError()
    if (problem !== undefined) yield* Effect.logWarning(`command output artifact is incomplete: ${problem}`)
  }
})

// What a shell reports for a process killed by a signal, so the metric is a number in every case.
const signalExitCode = (signal: NodeJS.Signals | null): number | undefined => {
  if (signal === null) return undefined
  const number = (osConstants.signals as Partial<Record<string, number>>)[signal]
  return number === undefined ? undefined : 128 + number
}

const failureOf = (spec: CommandSpec, outcome: Outcome): CommandFailedError | undefined => {
  const base = { command: spec.command, exitCode: outcome.exitCode, signal: outcome.signal }
  if (outcome.spawnError !== undefined) {
    return new CommandFailedError({
      ...base,
      reason: "spawn",
      detail: spawnErrorDetail(spec, outcome.spawnError)
    })
  }
  if (outcome.timedOut && spec.timeout !== undefined) {
    return new CommandFailedError({ ...base, reason: "timeout", timeout: spec.timeout })
  }
  if (outcome.exitCode !== 0) return new CommandFailedError({ ...base, reason: "exit" })
  return undefined
}

const spawnErrorDetail = (spec: CommandSpec, error: NodeJS.ErrnoException): string => {
  const program = JSON.stringify(spec.command[0])
  switch (error.code) {
    case "ENOENT":
      // Node reports a missing working directory as the program not being found.
      return spec.cwd !== undefined && !existsSync(spec.cwd)
        ? `working directory ${JSON.stringify(spec.cwd)} does not exist (ENOENT)`
        : `program ${program} not found (ENOENT)`
    case "EACCES":
      return `permission denied running program ${program} (EACCES)`
    case undefined:
      return error.message
    default:
      // Node's argument errors quote the offending value, which may be an env secret: say only which.
      return error.code.startsWith("ERR_INVALID_ARG")
        ? `invalid argument (${error.code})`
        : `${error.code}: ${error.message}`
  }
}

// Quoted as a POSIX shell would need it, so a message shows exactly which arguments the program got.
const shellQuote = (arg: string): string => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`)

/** The command as one readable line (shell-quoted, shortened), for messages and logs. */
export const displayCommand = (command: ReadonlyArray<string>): string => {
  const text = command.map(shellQuote).join(" ")
  return text.length > maxDisplayLength ? `${text.slice(0, maxDisplayLength - 1)}…` : text
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error))
