/**
 * src/cli/main.ts, the stock `autogen-team` bin: the built-in kinds, plus those a `--jobs <module>` exports.
 */
import { describe, expect, it } from "@effect/vitest"
import { lines, listing, packageVersion, runBin, tempDir, tuningModule } from "../fixtures/cli-harness.js"

describe("the stock bin", () => {
  it("kinds: the built-in CommandJob, one per line", async () => {
    const dir = tempDir()
    const result = await runBin(["kinds"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    expect(lines(result.stdout)).toEqual(["CommandJob"])
    expect(listing(dir)).toEqual([])
  })

  it("kinds --jobs <module>: adds the module's job classes", async () => {
    const result = await runBin(["kinds", "--jobs", tuningModule], { cwd: tempDir() })
    expect(result.code, result.stderr).toBe(0)
    expect(lines(result.stdout)).toEqual(["CommandJob", "TuningJob"])
  })

  it("kinds --jobs <missing module>: exit 2 naming the module", async () => {
    const result = await runBin(["kinds", "--jobs", "./nowhere.js"], { cwd: tempDir() })
    expect(result.code).toBe(2)
    expect(result.stderr).toContain("--jobs ./nowhere.js")
    expect(result.stdout).toBe("")
  })

  it("--version: this package's version", async () => {
    const result = await runBin(["--version"], { cwd: tempDir() })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain(packageVersion)
  })
})
