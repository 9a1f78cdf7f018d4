/**
 * Shared pieces of the benchmarks: timing whole processes (wall time and peak RSS), medians, the Python
 * anchor's interpreter, and fresh working directories. Python anchors that print their result as JSON run
 * through the test harness's `pythonJson`.
 */
import { spawn } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { performance } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { harness } from "../test/harness/python.js"

/** The repository root. */
export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..")

/** The Python with `mlflow==3.18.0` that the anchors run on: the test harness's (`$AUTOGEN_PYTHON` or `.venv`). */
export const python = harness.python

/** A fresh, empty directory. */
export const freshDir = (prefix = "autogen-bench-"): string => mkdtempSync(join(tmpdir(), prefix))

/** The median of a non-empty sample. */
export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** The median of `times` samples taken one after the other. */
export const repeat = async (times: number, sample: () => Promise<number>): Promise<number> => {
  const values: Array<number> = []
  for (let index = 0; index < times; index++) values.push(await sample())
  return median(values)
}

/** One finished process: wall time in seconds, peak RSS in MiB (when `/usr/bin/time` measured it). */
export interface ProcessSample {
  readonly seconds: number
  readonly peakRssMiB: number | undefined
  readonly stdout: string
}

const gnuTime = "/usr/bin/time"
/** Whether GNU time is installed to read a child's peak RSS. */
const measureRss = existsSync(gnuTime)

/**
 * Runs `command args…` in `cwd` to its end and times it. Under GNU time (when installed) the child's peak RSS
 * is read too; the wall time is ours, from spawn to exit, and so includes GNU time's fork (a millisecond).
 * A non-zero exit is an error: a benchmark of a failing command measures nothing.
 */
export const timeProcess = (
  command: string,
  args: ReadonlyArray<string>,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env
): Promise<ProcessSample> =>
  new Promise((resolve, reject) => {
    const rssFile = measureRss ? join(freshDir("autogen-rss-"), "rss") : undefined
    const [program, argv] =
      rssFile !== undefined ? [gnuTime, ["-f", "%M", "-o", rssFile, command, ...args]] : [command, [...args]]
    const started = performance.now()
    const child = spawn(program, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"] })
    const stdout: Array<Buffer> = []
    const stderr: Array<Buffer> = []
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk))
    child.on("error", reject)
    child.on("close", (code) => {
      const seconds = (performance.now() - started) / 1000
      if (code !== 0) {
        reject(new Error(`${command} ${args.join(" ")} exited with ${code}: ${Buffer.concat(stderr).toString()}`))
        return
      }
      const rssKiB =
        rssFile !== undefined ? Number(readFileSync(rssFile, "utf8").trim().split("\n").at(-1)) : Number.NaN
      resolve({
        seconds,
        peakRssMiB: Number.isFinite(rssKiB) ? rssKiB / 1024 : undefined,
        stdout: Buffer.concat(stdout).toString()
      })
    })
  })
