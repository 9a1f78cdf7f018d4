/**
 * src/cli/index.ts, the command line as a library: a project's own bin built with `main([...kinds])`
 * (test/fixtures/custom-bin.ts, run as a real child process) knows exactly its kinds, under its own name and
 * version; and `packageVersion` reads this package's version.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { packageVersion } from "../../src/cli/index.js"
import { lines, repoRoot, runFixture, sqliteRuns, tempDir, writeText } from "../fixtures/cli-harness.js"

describe("packageVersion", () => {
  it("is the version in package.json", () => {
    const manifest = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }
    expect(packageVersion()).toBe(manifest.version)
  })
})

describe("main(kinds): a project's own bin", () => {
  it("lists only its own kinds, under its own name and version", async () => {
    const dir = tempDir()
    const kinds = await runFixture("custom-bin.ts", ["kinds"], { cwd: dir })
    expect(kinds.code, kinds.stderr).toBe(0)
    expect(lines(kinds.stdout)).toEqual(["GreetJob"])
    const version = await runFixture("custom-bin.ts", ["--version"], { cwd: dir })
    expect(version.stdout).toContain("9.9.9")
    const help = await runFixture("custom-bin.ts", ["run", "--help"], { cwd: dir })
    expect(help.stdout).toContain("my-jobs run [flags] <files...>")
  })

  it("runs its kind from a configuration file, recorded as a FINISHED run", async () => {
    const dir = tempDir()
    writeText(dir, "greet.yaml", "job:\n  KIND: GreetJob\n  name: Ada\n  times: 3\n  logger_service: {sink: job.log}\n")
    const result = await runFixture("custom-bin.ts", ["run", "greet.yaml"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    expect(lines(result.stderr).at(-1)).toMatch(/^GreetJob FINISHED in /)
    expect(sqliteRuns(join(dir, "mlflow.db")).map((run) => run.status)).toEqual(["FINISHED"])
    expect(readFileSync(join(dir, "job.log"), "utf8").split("hello Ada")).toHaveLength(4)
  })

  it("refuses kinds it was not built with (the stock CommandJob included)", async () => {
    const dir = tempDir()
    writeText(dir, "command.yaml", 'job:\n  KIND: CommandJob\n  command: ["true"]\n')
    const result = await runFixture("custom-bin.ts", ["run", "command.yaml"], { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('job.KIND: unknown job kind "CommandJob"; registered kinds: GreetJob')
  })
})
