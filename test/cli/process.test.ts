/**
 * src/cli/process.ts: exit codes from outcomes, and SIGINT / SIGTERM delivered to the real `autogen-team` bin
 * in the middle of a run — the job interrupted, every finalizer run (run KILLED with its end time, the log
 * file's last line written, the command's process gone) before the process exits with 130 or 143.
 */
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import { CliError } from "effect/cli"
import * as Exit from "effect/Exit"
import { InvocationError, JobFailed } from "../../src/cli/app.js"
import { ExitCode, exitCodeOf } from "../../src/cli/process.js"
import {
  lines,
  processExists,
  readIfExists,
  runFixture,
  sqliteRuns,
  startBin,
  tempDir,
  waitUntil,
  writeText
} from "../fixtures/cli-harness.js"

describe("exitCodeOf", () => {
  it("0 on success, 2 for invocation and CLI errors, 1 for a failed job or anything else, 130 for interruption", () => {
    expect(exitCodeOf(Exit.succeed(undefined))).toBe(ExitCode.success)
    expect(exitCodeOf(Exit.fail(new InvocationError({ message: "bad" })))).toBe(ExitCode.invocation)
    expect(exitCodeOf(Exit.fail(new CliError.UnrecognizedOption({ option: "--bogus", suggestions: [] })))).toBe(
      ExitCode.invocation
    )
    expect(exitCodeOf(Exit.fail(new JobFailed()))).toBe(ExitCode.jobFailed)
    expect(exitCodeOf(Exit.die(new Error("bug")))).toBe(ExitCode.jobFailed)
    expect(exitCodeOf(Exit.failCause(Cause.interrupt()))).toBe(ExitCode.sigint)
    expect(ExitCode).toEqual({ success: 0, jobFailed: 1, invocation: 2, sigint: 130, sigterm: 143 })
  })
})

/** A job that prints a line, then waits forever: only a signal ends it. `ignoreTerm` makes it ignore SIGTERM. */
const longJob = (ignoreTerm = false): string => {
  const script = `${ignoreTerm ? "process.on('SIGTERM', () => {}); " : ""}console.log('working'); setInterval(() => {}, 1000)`
  return [
    "job:",
    "  KIND: CommandJob",
    `  command: ${JSON.stringify([process.execPath, "-e", script])}`,
    "  logger_service: {sink: job.log}",
    "  alerts_service: {enable: false}",
    ""
  ].join("\n")
}

/** Starts the bin on {@link longJob} and waits until the command is running; returns the command's pid too. */
const startLongJob = async (dir: string, ignoreTerm = false) => {
  writeText(dir, "conf.yaml", longJob(ignoreTerm))
  const started = startBin(["run", "conf.yaml"], { cwd: dir })
  const log = join(dir, "job.log")
  // The command's own first line, logged through the job's logger: the job is in the middle of its run.
  await waitUntil(() => (/working stream=stdout/.test(readIfExists(log)) ? true : undefined), "the command to run")
  const pid = Number(/command started: .* \(pid (\d+)\)/.exec(readIfExists(log))?.[1])
  expect(pid).toBeGreaterThan(0)
  return { ...started, log, pid }
}

const repetitions = 10

describe.each([
  { signal: "SIGINT" as const, code: ExitCode.sigint },
  { signal: "SIGTERM" as const, code: ExitCode.sigterm }
])("$signal in the middle of a run", ({ signal, code }) => {
  it(`exits ${code} after every finalizer ran, ${repetitions} times out of ${repetitions}`, async () => {
    for (let attempt = 1; attempt <= repetitions; attempt++) {
      const dir = tempDir()
      const { child, done, log, pid } = await startLongJob(dir)
      child.kill(signal)
      const result = await done
      const context = `attempt ${attempt}: ${result.stderr}`
      expect(result.signal, context).toBeNull()
      expect(result.code, context).toBe(code)
      // The run ended KILLED, with its end time, before the process exited.
      const [run, ...others] = sqliteRuns(join(dir, "mlflow.db"))
      expect(others, context).toEqual([])
      expect(run?.status, context).toBe("KILLED")
      expect(run?.end_time, context).toEqual(expect.any(Number))
      expect(run!.end_time!, context).toBeGreaterThanOrEqual(run!.start_time)
      // The logger's own [STOP] is the last line of its file: it was flushed and closed after everything else.
      const logLines = lines(readIfExists(log))
      expect(logLines.at(-1), context).toMatch(/\[STOP\] Logger$/)
      expect(
        logLines.some((line) => /CommandJob interrupted/.test(line)),
        context
      ).toBe(true)
      // The command was stopped with the job, not left behind.
      expect(processExists(pid), context).toBe(false)
      // The summary names the outcome and the run.
      expect(lines(result.stderr).at(-1), context).toMatch(/^CommandJob KILLED in \d+\.\d{2} s \(run [0-9a-f]{32}\)/)
    }
  })
})

describe("a second signal while stopping", () => {
  it("exits at once, without waiting for the stop to finish", async () => {
    const dir = tempDir()
    // The command ignores SIGTERM, so stopping it waits for the 5 s grace period before SIGKILL.
    const { child, done, pid } = await startLongJob(dir, true)
    try {
      child.kill("SIGTERM")
      await new Promise((resolve) => setTimeout(resolve, 300))
      const second = performance.now()
      child.kill("SIGINT")
      const result = await done
      expect(result.code, result.stderr).toBe(ExitCode.sigint)
      // Well inside the grace period the first stop is still waiting on.
      expect(performance.now() - second).toBeLessThan(4_000)
    } finally {
      // Forced out, the CLI could not stop the command: do it here.
      if (processExists(pid)) process.kill(-pid, "SIGKILL")
    }
  })
})

describe("failures nothing reported", () => {
  it("a defect of the program itself is printed, with exit code 1", async () => {
    const result = await runFixture("cli-defect.ts", [], { cwd: tempDir() })
    expect(result.code).toBe(ExitCode.jobFailed)
    expect(result.stderr).toContain("a bug in the command")
  })

  it("an invocation error is not printed twice", async () => {
    const dir = tempDir()
    const result = await startBin(["run", "missing.yaml"], { cwd: dir }).done
    expect(result.code).toBe(ExitCode.invocation)
    expect(result.stderr.split("file not found")).toHaveLength(2)
  })
})
