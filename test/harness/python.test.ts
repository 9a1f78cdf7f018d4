import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "@effect/vitest"
import { describeInterop, harness, MLFLOW_VERSION, pythonJson, runPython } from "./python.js"

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..")
const dirs: Array<string> = []
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

interface VitestReport {
  readonly numFailedTests: number
  readonly numPassedTests: number
  readonly numPendingTests: number
  readonly testResults: ReadonlyArray<{
    readonly assertionResults: ReadonlyArray<{
      readonly fullName: string
      readonly status: string
      readonly failureMessages: ReadonlyArray<string>
    }>
  }>
}

/** Runs a one-suite test file in a child vitest with the given environment and returns its JSON report. */
const runChildVitest = (env: Record<string, string>): Promise<VitestReport> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "autogen-harness-"))
  dirs.push(dir)
  const harnessUrl = pathToFileURL(path.join(repoRoot, "test", "harness", "python.ts")).href
  const vitestUrl = pathToFileURL(path.join(repoRoot, "node_modules", "@effect", "vitest", "dist", "index.js")).href
  fs.writeFileSync(
    path.join(dir, "fixture.test.ts"),
    `import { describeInterop } from ${JSON.stringify(harnessUrl)}\n` +
      `import { it } from ${JSON.stringify(vitestUrl)}\n` +
      `describeInterop("needs python", () => { it("inner", () => {}) })\n`
  )
  const report = path.join(dir, "report.json")
  return new Promise((resolve, reject) => {
    const child = spawn(
      path.join(repoRoot, "node_modules", ".bin", "vitest"),
      ["run", "--root", dir, "--reporter=json", `--outputFile=${report}`],
      { cwd: repoRoot, env: { ...process.env, ...env }, stdio: "ignore" }
    )
    child.on("error", reject)
    child.on("close", () => {
      try {
        resolve(JSON.parse(fs.readFileSync(report, "utf8")) as VitestReport)
      } catch (error) {
        reject(error)
      }
    })
  })
}

describe("harness", () => {
  it("resolves the Python and says whether mlflow is usable", () => {
    expect(harness.python).toBe(process.env.AUTOGEN_PYTHON ?? path.join(repoRoot, ".venv", "bin", "python"))
    expect(harness.reason.length).toBeGreaterThan(0)
    if (harness.available) expect(harness.reason).toContain(MLFLOW_VERSION)
  })

  it("describeInterop fails loudly without the harness when AUTOGEN_REQUIRE_INTEROP=1", {
    timeout: 60_000
  }, async () => {
    const [required, optional] = await Promise.all([
      runChildVitest({ AUTOGEN_PYTHON: "/nonexistent/python", AUTOGEN_REQUIRE_INTEROP: "1" }),
      runChildVitest({ AUTOGEN_PYTHON: "/nonexistent/python", AUTOGEN_REQUIRE_INTEROP: "0" })
    ])
    expect(required.numFailedTests).toBe(1)
    const failure = required.testResults[0]?.assertionResults[0]
    expect(failure?.fullName).toContain("needs python")
    expect(failure?.failureMessages.join("\n")).toContain("bash test/harness/setup-python.sh")
    expect(optional.numFailedTests).toBe(0)
    expect(optional.numPassedTests).toBe(0)
    expect(optional.numPendingTests).toBe(1)
    expect(optional.testResults[0]?.assertionResults[0]?.fullName).toContain(
      "skipped: no Python at /nonexistent/python"
    )
  })
})

describeInterop("harness with Python", () => {
  it("round-trips JSON through pythonJson, ignoring earlier output lines", { timeout: 30_000 }, async () => {
    const value = await pythonJson<{ args: ReadonlyArray<string>; cwd: string; env: string | null }>(
      "import json, os, sys\nprint('noise')\nprint(json.dumps({'args': sys.argv[1:], 'cwd': os.getcwd(), " +
        "'env': os.environ.get('AUTOGEN_PROBE')}))",
      ["a b", "ü"],
      { cwd: os.tmpdir(), env: { AUTOGEN_PROBE: "42" } }
    )
    expect(value).toEqual({ args: ["a b", "ü"], cwd: fs.realpathSync(os.tmpdir()), env: "42" })
  })

  it("reports exit codes, and pythonJson rejects with stderr", { timeout: 30_000 }, async () => {
    const result = await runPython("import sys\nprint('out')\nsys.stderr.write('boom')\nsys.exit(3)")
    expect(result).toEqual({ stdout: "out\n", stderr: "boom", code: 3 })
    await expect(pythonJson("import sys\nsys.stderr.write('kaput')\nsys.exit(1)")).rejects.toThrow("kaput")
    await expect(pythonJson("print('not json')")).rejects.toThrow("no JSON")
  })
})
