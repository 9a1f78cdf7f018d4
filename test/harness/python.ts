/**
 * Python interop harness: the proof that what we write is MLflow's format is Python `mlflow` itself, so tests
 * run Python scripts and `mlflow server` from the harness venv (installed by `bash test/harness/setup-python.sh`).
 *
 * When the venv is missing, interop suites are skipped with the reason in their name, or fail loudly when
 * `AUTOGEN_REQUIRE_INTEROP=1` (CI), so a missing harness can never pass for green.
 *
 * @module
 */

import { spawn, spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { freePort } from "./net.js"
import { describeRequiring, type Requirement } from "./require.js"

/** The mlflow release every interop test is written against. */
export const MLFLOW_VERSION = "3.18.0"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")

const resolveHarness = (): { readonly available: boolean; readonly reason: string; readonly python: string } => {
  const python = process.env.AUTOGEN_PYTHON ?? path.join(repoRoot, ".venv", "bin", "python")
  if (!existsSync(python)) return { available: false, reason: `no Python at ${python}`, python }
  const probe = spawnSync(python, ["-c", "import mlflow; print(mlflow.__version__)"], {
    encoding: "utf8",
    timeout: 60_000
  })
  if (probe.error !== undefined) {
    return { available: false, reason: `cannot run ${python}: ${probe.error.message}`, python }
  }
  const version = probe.stdout.trim().split("\n").at(-1) ?? ""
  if (probe.status !== 0) {
    const lastLine = probe.stderr.trim().split("\n").at(-1) ?? `exit code ${probe.status}`
    return { available: false, reason: `\`import mlflow\` failed in ${python}: ${lastLine}`, python }
  }
  if (version !== MLFLOW_VERSION) {
    return { available: false, reason: `${python} has mlflow ${version}, not ${MLFLOW_VERSION}`, python }
  }
  return { available: true, reason: `mlflow ${version} at ${python}`, python }
}

/**
 * The Python used for interop: `$AUTOGEN_PYTHON` or `<repo>/.venv/bin/python`. `available` is true when
 * `import mlflow` there reports {@link MLFLOW_VERSION}; otherwise `reason` says what is missing.
 */
export const harness: { readonly available: boolean; readonly reason: string; readonly python: string } =
  resolveHarness()

const installHint =
  "install it with `bash test/harness/setup-python.sh` (or point AUTOGEN_PYTHON at a Python " +
  `with mlflow==${MLFLOW_VERSION})`

const interop: Requirement = {
  available: harness.available,
  required: "Python mlflow harness",
  missing: `The Python mlflow harness is missing (${harness.reason}) and AUTOGEN_REQUIRE_INTEROP=1; ${installHint}`,
  skipped: `${harness.reason}; ${installHint}`
}

/**
 * `describe` for suites that need Python mlflow. Without the harness the suite is skipped (its name says why),
 * unless `AUTOGEN_REQUIRE_INTEROP=1`, where a failing test takes its place.
 */
export const describeInterop = (name: string, fn: () => void): void => describeRequiring(interop, name, fn)

/** Options for a Python child process. `env` is added to this process's environment. */
export interface PythonOptions {
  readonly cwd?: string
  readonly env?: Record<string, string>
}

/** What a finished Python process printed and its exit code (-1 when killed by a signal). */
export interface PythonResult {
  readonly stdout: string
  readonly stderr: string
  readonly code: number
}

const childEnv = (extra: Record<string, string> | undefined): NodeJS.ProcessEnv => ({
  ...process.env,
  // Python's own buffering and MLflow's telemetry would only slow tests down or make them flaky.
  PYTHONUNBUFFERED: "1",
  PYTHONDONTWRITEBYTECODE: "1",
  MLFLOW_DISABLE_TELEMETRY: "true",
  DO_NOT_TRACK: "true",
  ...extra
})

/** Runs `python -c script args…` with the harness Python; resolves with its output whatever the exit code. */
export const runPython = (
  script: string,
  args: ReadonlyArray<string> = [],
  options: PythonOptions = {}
): Promise<PythonResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(harness.python, ["-c", script, ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: childEnv(options.env),
      stdio: ["ignore", "pipe", "pipe"]
    })
    const stdout: Array<Buffer> = []
    const stderr: Array<Buffer> = []
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk))
    child.on("error", reject)
    child.on("close", (code) =>
      resolve({
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
        code: code ?? -1
      })
    )
  })

/**
 * Runs a Python script that prints one JSON document as its last stdout line (earlier lines are ignored) and
 * resolves with it parsed; rejects with stderr when Python exits non-zero or prints no JSON.
 */
export const pythonJson = async <T>(
  script: string,
  args: ReadonlyArray<string> = [],
  options: PythonOptions = {}
): Promise<T> => {
  const result = await runPython(script, args, options)
  if (result.code !== 0) {
    throw new Error(`Python exited with code ${result.code}:\n${result.stderr}`)
  }
  const lastLine = result.stdout.trimEnd().split("\n").at(-1) ?? ""
  try {
    return JSON.parse(lastLine) as T
  } catch {
    throw new Error(`Python printed no JSON on its last line:\n${result.stdout}\n${result.stderr}`)
  }
}

/** Options of {@link startMlflowServer}. */
export interface MlflowServerOptions {
  readonly backendStoreUri: string
  /** Where the server stores proxied artifacts (`--artifacts-destination`); default `<cwd>/mlartifacts`. */
  readonly artifactsDestination?: string
  readonly cwd?: string
  /** Listen on this port (to restart a server where its clients expect it); a free one by default. */
  readonly port?: number
  /** Server worker processes (`--workers`); 1 by default. */
  readonly workers?: number
  /** `--app-name`: `basic-auth` serves MLflow's own authentication and permissions app. */
  readonly appName?: string
  /** Added to the server's environment (the auth app reads its config and admin password from there). */
  readonly env?: Record<string, string>
}

/**
 * A running `mlflow server`. `stop` ends its whole process group (SIGTERM, then SIGKILL) and waits for it to
 * exit; `kill` SIGKILLs the group at once, as a crash or an OOM kill would.
 */
export interface MlflowServer {
  readonly url: string
  readonly port: number
  readonly stop: () => Promise<void>
  readonly kill: () => Promise<void>
}

const SERVER_START_TIMEOUT_MS = 60_000

/**
 * Starts `mlflow server` on a free loopback port with one worker and waits until `GET /health` answers.
 * The server runs in its own process group (it forks uvicorn and a job runner) so `stop` reaches them all.
 */
export const startMlflowServer = async (options: MlflowServerOptions): Promise<MlflowServer> => {
  const port = options.port ?? (await freePort())
  const host = "127.0.0.1"
  const binDir = path.dirname(harness.python)
  const cli = path.join(binDir, "mlflow")
  const [command, prefix] = existsSync(cli) ? [cli, []] : [harness.python, ["-m", "mlflow"]]
  const args = [
    ...prefix,
    "server",
    "--host",
    host,
    "--port",
    String(port),
    "--workers",
    String(options.workers ?? 1),
    "--backend-store-uri",
    options.backendStoreUri,
    // Host-header validation stays on; only the exact loopback origin we use is allowed.
    "--allowed-hosts",
    `${host}:${port},localhost:${port}`,
    ...(options.artifactsDestination === undefined ? [] : ["--artifacts-destination", options.artifactsDestination]),
    ...(options.appName === undefined ? [] : ["--app-name", options.appName])
  ]
  const child = spawn(command, args, {
    cwd: options.cwd ?? process.cwd(),
    env: childEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
    detached: true
  })
  const output: Array<string> = []
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString("utf8"))
    if (output.length > 200) output.shift()
  }
  child.stdout.on("data", keep)
  child.stderr.on("data", keep)
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve())
    child.once("error", (error) => {
      output.push(`cannot start ${command}: ${error.message}\n`)
      resolve()
    })
  })
  let running = true
  void exited.then(() => {
    running = false
  })

  const signalGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return
    try {
      process.kill(-child.pid, signal)
    } catch {
      // The whole group is already gone.
    }
  }
  const stop = async (): Promise<void> => {
    if (running) {
      signalGroup("SIGTERM")
      const killer = setTimeout(() => signalGroup("SIGKILL"), 10_000)
      await exited
      clearTimeout(killer)
    }
    // The leader is gone; make sure none of its workers outlives it.
    signalGroup("SIGKILL")
  }

  const kill = async (): Promise<void> => {
    signalGroup("SIGKILL")
    await exited
  }

  const url = `http://${host}:${port}`
  const deadline = Date.now() + SERVER_START_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (!running) {
      await stop()
      throw new Error(`mlflow server exited before answering /health:\n${output.join("")}`)
    }
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) })
      if (response.ok) return { url, port, stop, kill }
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  await stop()
  throw new Error(
    `mlflow server did not answer /health within ${SERVER_START_TIMEOUT_MS / 1000} s:\n${output.join("")}`
  )
}
