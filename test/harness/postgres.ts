/**
 * A private PostgreSQL server for tests that need a shared tracking server's real backend: a fresh cluster in a
 * temporary directory (`initdb`, `pg_ctl` from Debian's `postgresql` package), listening on a free loopback
 * port with trust authentication, and gone after `stop`. As root (CI), the server runs as the `postgres` user,
 * since PostgreSQL refuses to run as root.
 *
 * `.ci/run` installs the package; `describePostgres` skips (or fails, with `AUTOGEN_REQUIRE_INTEROP=1`) when
 * the binaries or Python's `psycopg` (for `mlflow server`) are missing, saying which.
 *
 * @module
 */
import { execFileSync, spawnSync } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as path from "node:path"
import { freePort } from "./net.js"
import { harness } from "./python.js"
import { describeRequiring, type Requirement } from "./require.js"

const findBinDir = (): string | undefined => {
  const root = "/usr/lib/postgresql"
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root)
    .filter((version) => existsSync(path.join(root, version, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? undefined : path.join(root, versions[0], "bin")
}

const resolve = (): { readonly available: boolean; readonly reason: string; readonly bin: string | undefined } => {
  const bin = findBinDir()
  if (bin === undefined) {
    return { available: false, reason: "no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)", bin }
  }
  if (!harness.available) return { available: false, reason: harness.reason, bin }
  const probe = spawnSync(harness.python, ["-c", "import psycopg"], { encoding: "utf8", timeout: 60_000 })
  if (probe.status !== 0) {
    return {
      available: false,
      reason: `${harness.python} cannot import psycopg, the PostgreSQL driver of SQLAlchemy 2 (bash test/harness/setup-python.sh installs it)`,
      bin
    }
  }
  return { available: true, reason: `PostgreSQL in ${bin}`, bin }
}

/** Whether PostgreSQL tests can run here, and why not. */
export const postgres: { readonly available: boolean; readonly reason: string; readonly bin: string | undefined } =
  resolve()

const pgRequirement: Requirement = {
  available: postgres.available,
  required: "PostgreSQL",
  missing: `PostgreSQL tests cannot run (${postgres.reason}) and AUTOGEN_REQUIRE_INTEROP=1`,
  skipped: postgres.reason
}

/**
 * `describe` for suites that need PostgreSQL and `mlflow server` on it: skipped (its name says why) without
 * them, or a failing test with `AUTOGEN_REQUIRE_INTEROP=1`, so CI cannot pass by skipping.
 */
export const describePostgres = (name: string, fn: () => void): void => describeRequiring(pgRequirement, name, fn)

/** A running private PostgreSQL server with an empty `mlflow` database. */
export interface Postgres {
  /** SQLAlchemy URI of the `mlflow` database, as `mlflow server --backend-store-uri` takes it. */
  readonly uri: string
  readonly stop: () => Promise<void>
}

/** Starts a fresh PostgreSQL cluster on a free loopback port (see the module comment). */
export const startPostgres = async (): Promise<Postgres> => {
  const bin = postgres.bin
  if (bin === undefined) throw new Error(postgres.reason)
  const root = mkdtempSync(path.join(tmpdir(), "autogen-pg-"))
  const data = path.join(root, "data")
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim())
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim())
    chownSync(root, uid, gid)
  }
  const run = (program: string, args: ReadonlyArray<string>) => {
    const [command, prefix] = asRoot
      ? ["runuser", ["-u", "postgres", "--", path.join(bin, program)]]
      : [path.join(bin, program), []]
    const result = spawnSync(command, [...prefix, ...args], { encoding: "utf8", timeout: 60_000 })
    if (result.status !== 0) {
      const log = existsSync(path.join(root, "log")) ? readFileSync(path.join(root, "log"), "utf8") : ""
      throw new Error(`${program} failed (${result.status}): ${result.stderr}${result.stdout}\n${log}`)
    }
  }
  const port = await freePort()
  run("initdb", ["-D", data, "-U", "mlflow", "--auth=trust", "-E", "UTF8", "--no-sync"])
  // A throwaway cluster: durability is not what the tests measure.
  const settings = [
    "-c listen_addresses=127.0.0.1",
    `-p ${port}`,
    `-k ${root}`,
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=200"
  ].join(" ")
  run("pg_ctl", ["-D", data, "-l", path.join(root, "log"), "-w", "-t", "60", "-o", settings, "start"])
  const stop = async () => {
    try {
      run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  }
  try {
    run("createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "mlflow", "mlflow"])
  } catch (error) {
    await stop()
    throw error
  }
  return { uri: `postgresql://mlflow@127.0.0.1:${port}/mlflow`, stop }
}
