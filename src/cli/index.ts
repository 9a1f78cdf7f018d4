/**
 * The command line as a library: build the `autogen-team` command over your own job kinds and run it as
 * your project's bin.
 *
 * @module
 */
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { type CliOptions, make } from "./app.js"
import { runMain } from "./process.js"
import type { JobKind } from "./registry.js"

/** This package's version, read from its package.json (found from this module, in src/ or dist/). */
export const packageVersion = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    try {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: string
        version?: string
      }
      if (manifest.name === "autogen-team" && typeof manifest.version === "string") return manifest.version
    } catch {
      // No package.json here: keep walking up.
    }
    const parent = dirname(dir)
    if (parent === dir) return "0.0.0"
    dir = parent
  }
}

/**
 * Runs the CLI over `kinds` as this process (exit codes 0 / 1 / 2 / 130 / 143, signals handled).
 * `argv` defaults to `process.argv.slice(2)`.
 */
export const main = (
  kinds: ReadonlyArray<JobKind>,
  options: CliOptions & { readonly argv?: ReadonlyArray<string> } = {}
): void => runMain(make(kinds, options), { version: options.version ?? packageVersion(), argv: options.argv })

export { type CliOptions, InvocationError, JobFailed, make, summaryLine, whereToLook } from "./app.js"
export { ExitCode, exitCodeOf, runMain } from "./process.js"
export {
  decodeSettings,
  type JobKind,
  jsonSchema,
  loadJobModule,
  registry,
  type Settings,
  settingsSchema
} from "./registry.js"
