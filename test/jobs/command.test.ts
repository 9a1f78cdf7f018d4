/**
 * CommandJob on real child processes: output, tracking, failures, timeouts, interruption and secrets.
 * Children are `node -e …` (process.execPath, so no PATH lookup) and `sh -c …`.
 */
import { createHash } from "node:crypto"
import { mkdtempSync, readFileSync, realpathSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { performance } from "node:perf_hooks"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import {
  AlertRecorder,
  Alerts,
  ConfigError,
  decodeJob,
  flattenConfig,
  LogCapture,
  Logger,
  MemoryTracking,
  Mlflow,
  runJob
} from "../../src/index.js"
import { CommandFailedError, CommandJob, displayCommand, outputTailLength } from "../../src/jobs/command.js"

const testServices = { logger: Logger.layerTest, alerts: Alerts.layerTest, mlflow: Mlflow.layerTest }
const recorders = Layer.mergeAll(LogCapture.layer, AlertRecorder.layer, MemoryTracking.layer)
const node = process.execPath

/** A `node -e` command. */
const nodeJob = (script: string, fields: Omit<ConstructorParameters<typeof CommandJob>[0], "command"> = {}) =>
  new CommandJob({ command: [node, "-e", script], ...fields })

/** Whether a process is running. A zombie is not: this container's init never reaps orphans. */
const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== "ESRCH"
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1")
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
  } catch {
    return process.platform !== "linux"
  }
}

/** The messages logged from one output stream of the command, in order. */
const streamLines = (stream: "stdout" | "stderr") =>
  Effect.map(LogCapture.lines, (lines) =>
    lines.filter((line) => line.annotations.stream === stream).map((line) => line.message)
  )

/** Polls the captured logs (in real time) until `count` stdout lines are there. */
const awaitStdoutLines = (count: number) =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < 500; attempt++) {
      const lines = yield* streamLines("stdout")
      if (lines.length >= count) return lines
      yield* Effect.sleep("10 millis")
    }
    return yield* Effect.die(new Error(`fewer than ${count} stdout lines were logged`))
  })

const onlyRun = Effect.gen(function* () {
  const runs = yield* MemoryTracking.runs
  expect(runs).toHaveLength(1)
  return runs[0]!
})

const artifactText = (runId: string, path: string) =>
  Effect.gen(function* () {
    const { store } = yield* MemoryTracking
    const bytes = yield* store.readArtifact(runId, path)
    assert.isDefined(bytes, `artifact ${path}`)
    return Buffer.from(bytes).toString("utf8")
  })

const metricsOf = (run: { readonly latestMetrics: ReadonlyArray<{ readonly key: string; readonly value: number }> }) =>
  Object.fromEntries(run.latestMetrics.map((metric) => [metric.key, metric.value]))

const tagOf = (run: { readonly tags: ReadonlyArray<{ readonly key: string; readonly value: string }> }, key: string) =>
  run.tags.find((tag) => tag.key === key)?.value

/** Runs the job and returns its CommandFailedError (the test fails if it succeeds or fails otherwise). */
const commandFailure = (job: CommandJob) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(runJob(job, testServices))
    assert.isTrue(Exit.isFailure(exit), "the job should fail")
    const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : Option.none()
    assert.isTrue(Option.isSome(error) && error.value instanceof CommandFailedError, String(exit))
    return (error as Option.Some<CommandFailedError>).value
  })

describe("CommandJob success", () => {
  it.live("logs each stream line by line in order, keeps both outputs as artifacts, ends FINISHED", () =>
    Effect.gen(function* () {
      const script = [
        "for (let i = 0; i < 5; i++) { console.log('out ' + i); console.error('err ' + i) }",
        // A progress bar redraws with \r; the last piece has no newline at all.
        "process.stderr.write('10%\\r50%\\r100%\\n')",
        "process.stdout.write('last, no newline')"
      ].join(";")
      const locals = yield* runJob(nodeJob(script), testServices)

      const expectedStdout = "out 0\nout 1\nout 2\nout 3\nout 4\nlast, no newline"
      const expectedStderr = "err 0\nerr 1\nerr 2\nerr 3\nerr 4\n10%\r50%\r100%\n"
      expect(yield* streamLines("stdout")).toEqual(["out 0", "out 1", "out 2", "out 3", "out 4", "last, no newline"])
      expect(yield* streamLines("stderr")).toEqual(["err 0", "err 1", "err 2", "err 3", "err 4", "100%"])
      const outputLines = (yield* LogCapture.lines).filter((line) => line.annotations.stream !== undefined)
      expect(new Set(outputLines.map((line) => line.level))).toEqual(new Set(["INFO"]))

      expect(locals).toMatchObject({
        exitCode: 0,
        stdout: expectedStdout,
        stderr: expectedStderr,
        stdoutBytes: expectedStdout.length,
        stderrBytes: expectedStderr.length
      })
      expect(locals.durationSeconds).toBeGreaterThan(0)

      const run = yield* onlyRun
      expect(run.info.status).toBe("FINISHED")
      expect(metricsOf(run)).toEqual({ exit_code: 0, duration_seconds: locals.durationSeconds })
      expect(tagOf(run, "command.exit_signal")).toBeUndefined()
      expect(yield* artifactText(run.info.runId, "command/stdout.txt")).toBe(expectedStdout)
      expect(yield* artifactText(run.info.runId, "command/stderr.txt")).toBe(expectedStderr)
      expect(yield* AlertRecorder.alerts).toEqual([])
    }).pipe(Effect.provide(recorders))
  )

  it.live("keeps only the tail of a large output in locals; the artifact has all of it", () =>
    Effect.gen(function* () {
      // 3000 lines of 100 characters: 300 KB, past the tail length.
      const script =
        "const line = 'x'.repeat(95); for (let i = 0; i < 3000; i++) console.log(String(i).padStart(4, '0') + line)"
      const locals = yield* runJob(nodeJob(script), testServices)
      expect(locals.stdoutBytes).toBe(3000 * 100)
      expect(locals.stdout.length).toBeLessThanOrEqual(outputTailLength)
      expect(locals.stdout.length).toBeGreaterThan(outputTailLength - 100)
      expect(locals.stdout).toMatch(/^\d{4}x{95}\n/) // starts on a line boundary
      expect(locals.stdout.endsWith(`2999${"x".repeat(95)}\n`)).toBe(true)
      const run = yield* onlyRun
      expect((yield* artifactText(run.info.runId, "command/stdout.txt")).length).toBe(3000 * 100)
      expect(yield* streamLines("stdout")).toHaveLength(3000)
    }).pipe(Effect.provide(recorders))
  )

  it.live("honours cwd, and adds env to the inherited environment", () =>
    Effect.gen(function* () {
      const dir = realpathSync(mkdtempSync(join(tmpdir(), "command-cwd-")))
      const job = nodeJob(
        "console.log(JSON.stringify({ cwd: process.cwd(), greeting: process.env.AUTOGEN_GREETING, path: process.env.PATH }))",
        { cwd: dir, env: { AUTOGEN_GREETING: Redacted.make("hello") } }
      )
      const { stdout } = yield* runJob(job, testServices)
      expect(JSON.parse(stdout)).toEqual({ cwd: dir, greeting: "hello", path: process.env.PATH })
    }).pipe(Effect.provide(recorders))
  )

  it.live("stops what the command leaves running in its process group when it exits", () =>
    Effect.gen(function* () {
      const job = new CommandJob({ command: ["sh", "-c", "sleep 60 & echo $!"] })
      const { stdout } = yield* runJob(job, testServices)
      const sleeper = Number(stdout.trim())
      expect(sleeper).toBeGreaterThan(0)
      expect(isAlive(sleeper)).toBe(false)
      const warnings = (yield* LogCapture.lines).filter((line) => line.level === "WARN").map((line) => line.message)
      expect(warnings).toEqual([expect.stringContaining("left processes running in its process group")])
    }).pipe(Effect.provide(recorders))
  )
})

describe("CommandJob failures", () => {
  it.live("a non-zero exit fails the job with CommandFailedError, a FAILED run and one alert", () =>
    Effect.gen(function* () {
      const job = new CommandJob({ command: ["sh", "-c", "echo failing; echo why >&2; exit 3"] })
      const error = yield* commandFailure(job)
      expect(error).toMatchObject({ reason: "exit", exitCode: 3, signal: null, command: job.command })
      expect(error.message).toBe(`command sh -c 'echo failing; echo why >&2; exit 3' exited with code 3`)

      const run = yield* onlyRun
      expect(run.info.status).toBe("FAILED")
      expect(metricsOf(run).exit_code).toBe(3)
      expect(yield* artifactText(run.info.runId, "command/stdout.txt")).toBe("failing\n")
      expect(yield* artifactText(run.info.runId, "command/stderr.txt")).toBe("why\n")
      // Exactly one alert: the runner's, with the error and the run (the job sends none of its own).
      const alerts = yield* AlertRecorder.alerts
      expect(alerts.map(({ title, message, level }) => ({ title, message, level }))).toEqual([
        {
          title: "CommandJob failed",
          message: expect.stringMatching(/^command sh -c .* exited with code 3 \(run [0-9a-f]{32}, /),
          level: "error"
        }
      ])
      expect(alerts[0]?.message.startsWith(`${error.message} (run ${run.info.runId}, `)).toBe(true)
    }).pipe(Effect.provide(recorders))
  )

  // it.effect runs under a TestClock that never advances: the timeout must be wall-clock time all the same.
  it.effect("a timeout stops the command with SIGTERM within a second, even under a TestClock", () =>
    Effect.gen(function* () {
      const job = nodeJob("console.log(process.pid); setTimeout(() => {}, 60000)", { timeout: 0.5 })
      const started = performance.now()
      const error = yield* commandFailure(job)
      const elapsed = (performance.now() - started) / 1000
      expect(error).toMatchObject({ reason: "timeout", exitCode: null, signal: "SIGTERM", timeout: 0.5 })
      expect(error.message).toMatch(/timed out after 0\.5 s and was stopped \(it was killed by signal SIGTERM\)$/)
      // Bounded generously: without the timeout the child would run for a minute.
      expect(elapsed).toBeLessThan(3)
      const [pid] = yield* streamLines("stdout")
      expect(isAlive(Number(pid))).toBe(false)

      const run = yield* onlyRun
      expect(run.info.status).toBe("FAILED")
      expect(tagOf(run, "command.exit_signal")).toBe("SIGTERM")
      expect(metricsOf(run).exit_code).toBe(143)
      expect((yield* AlertRecorder.alerts).map((alert) => alert.title)).toEqual(["CommandJob failed"])
    }).pipe(Effect.provide(recorders))
  )

  it.live("a command that ignores SIGTERM is SIGKILLed after the grace period", () =>
    Effect.gen(function* () {
      const job = nodeJob(
        "process.on('SIGTERM', () => console.log('ignoring SIGTERM')); console.log(process.pid); setInterval(() => {}, 1000)",
        { timeout: 1 }
      )
      const started = performance.now()
      const error = yield* commandFailure(job)
      const elapsed = (performance.now() - started) / 1000
      expect(error).toMatchObject({ reason: "timeout", exitCode: null, signal: "SIGKILL" })
      expect(elapsed).toBeGreaterThanOrEqual(1 + 5)
      const lines = yield* streamLines("stdout")
      expect(lines[1]).toBe("ignoring SIGTERM") // it got SIGTERM first, and its output was still logged
      expect(isAlive(Number(lines[0]))).toBe(false)
      const run = yield* onlyRun
      expect(tagOf(run, "command.exit_signal")).toBe("SIGKILL")
      expect(metricsOf(run).exit_code).toBe(137)
    }).pipe(Effect.provide(recorders))
  )

  it.live("a program that does not exist fails with reason spawn, naming it", () =>
    Effect.gen(function* () {
      const error = yield* commandFailure(new CommandJob({ command: ["autogen-no-such-program", "--flag"] }))
      expect(error).toMatchObject({ reason: "spawn", exitCode: null, signal: null })
      expect(error.message).toBe(
        `command autogen-no-such-program --flag could not be started: program "autogen-no-such-program" not found (ENOENT)`
      )
      const run = yield* onlyRun
      expect(run.info.status).toBe("FAILED")
      expect(Object.keys(metricsOf(run))).toEqual(["duration_seconds"])
      const alerts = yield* AlertRecorder.alerts
      expect(alerts).toHaveLength(1)
      expect(alerts[0]?.message.startsWith(`${error.message} (run ${run.info.runId}, `)).toBe(true)
    }).pipe(Effect.provide(recorders))
  )

  it.live("a missing working directory is reported as such, not as a missing program", () =>
    Effect.gen(function* () {
      const error = yield* commandFailure(nodeJob("0", { cwd: "/nonexistent/autogen-dir" }))
      expect(error.reason).toBe("spawn")
      expect(error.message).toMatch(
        /could not be started: working directory "\/nonexistent\/autogen-dir" does not exist/
      )
    }).pipe(Effect.provide(recorders))
  )
})

describe("CommandJob interruption", () => {
  it.live("interrupting the job kills the command and its grandchildren before it completes; the run is KILLED", () =>
    Effect.gen(function* () {
      // sh prints the pid of its background child, then its own, and waits.
      const job = new CommandJob({ command: ["sh", "-c", "sleep 60 & echo $!; echo $$; wait"] })
      const fiber = yield* Effect.forkChild(runJob(job, testServices))
      const [grandchild, child] = (yield* awaitStdoutLines(2)).map(Number)
      expect(isAlive(child!)).toBe(true)
      expect(isAlive(grandchild!)).toBe(true)

      const exit = yield* Fiber.interrupt(fiber).pipe(Effect.andThen(Fiber.await(fiber)))
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
      expect(isAlive(child!)).toBe(false)
      expect(isAlive(grandchild!)).toBe(false)

      const run = yield* onlyRun
      expect(run.info.status).toBe("KILLED")
      expect(tagOf(run, "command.exit_signal")).toBe("SIGTERM")
      // What it printed before it was stopped is kept with the run.
      expect(yield* artifactText(run.info.runId, "command/stdout.txt")).toBe(`${grandchild}\n${child}\n`)
      expect((yield* AlertRecorder.alerts).map(({ title, level }) => ({ title, level }))).toEqual([
        { title: "CommandJob interrupted", level: "warning" }
      ])
    }).pipe(Effect.provide(recorders))
  )
})

describe("CommandJob configuration", () => {
  it.effect("decodes from plain JSON, strictly", () =>
    Effect.gen(function* () {
      const text = JSON.stringify({
        KIND: "CommandJob",
        command: ["python", "train.py", "--epochs", "3"],
        cwd: "/srv/project",
        env: { HF_TOKEN: "hf_secret" },
        timeout: 3600,
        logger_service: { level: "INFO" }
      })
      const job = yield* decodeJob(CommandJob)(JSON.parse(text), "confs/command.json")
      assert.instanceOf(job, CommandJob)
      expect(job.command).toEqual(["python", "train.py", "--epochs", "3"])
      expect(job.timeout).toBe(3600)
      assert.isTrue(Redacted.isRedacted(job.env?.HF_TOKEN))
      expect(Redacted.value(job.env!.HF_TOKEN!)).toBe("hf_secret")
      expect(Object.isFrozen(job.command)).toBe(true)

      const invalid = {
        command: [],
        shell: true,
        timeout: "1",
        env: { PIN: 1234, "A=B": "x" }
      }
      const error = yield* Effect.flip(decodeJob(CommandJob)(invalid, "confs/bad.json"))
      assert.instanceOf(error, ConfigError)
      const paths = error.issues.map((issue) => issue.path)
      expect(paths).toEqual(expect.arrayContaining(["command[0]", "shell", "timeout", "env.PIN", "env.A=B"]))
      // A wrongly typed secret is not quoted back.
      expect(error.message).not.toContain("1234")
      for (const bad of [{ command: "python train.py" }, { command: ["python", ""] }, { command: ["a"], timeout: 0 }]) {
        yield* Effect.flip(decodeJob(CommandJob)(bad))
      }
    })
  )

  it.live("env values never reach params, tags, logs, alerts or the config artifact", () =>
    Effect.gen(function* () {
      const secret = "s3cr3t-token-value"
      const digest = createHash("sha256").update(secret).digest("hex")
      const job = yield* decodeJob(CommandJob)({
        command: [
          node,
          "-e",
          // Proves the child got the secret without printing it: its digest, then a failing exit.
          "console.log(require('crypto').createHash('sha256').update(process.env.API_TOKEN).digest('hex')); process.exit(2)"
        ],
        env: { API_TOKEN: secret }
      })
      expect(flattenConfig(job).map((param) => param.key)).not.toContain("env.API_TOKEN")
      expect(String(job)).not.toContain(secret)
      expect(JSON.stringify(job)).not.toContain(secret)

      yield* commandFailure(job)
      expect(yield* streamLines("stdout")).toEqual([digest])
      const run = yield* onlyRun
      const config = yield* artifactText(run.info.runId, "job/config.json")
      expect(JSON.parse(config).env).toEqual({ API_TOKEN: "<redacted>" })
      const everything = [
        JSON.stringify(run),
        config,
        JSON.stringify(yield* LogCapture.lines),
        JSON.stringify(yield* AlertRecorder.alerts)
      ].join("\n")
      expect(everything).not.toContain(secret)
    }).pipe(Effect.provide(recorders))
  )

  it("shows commands shell-quoted and bounded in messages", () => {
    expect(displayCommand(["python", "train.py", "--lr=0.1"])).toBe("python train.py --lr=0.1")
    expect(displayCommand(["sh", "-c", "echo 'hi' && exit 1"])).toBe(`sh -c 'echo '\\''hi'\\'' && exit 1'`)
    expect(displayCommand(["x", "y".repeat(500)])).toHaveLength(200)
  })
})
