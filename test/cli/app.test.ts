// biome-ignore-all lint/suspicious/noTemplateCurlyInString: configurations here hold literal `${env:…}` references
/**
 * The commands of src/cli/app.ts — `run`, `validate`, `schema`, `kinds`'s help — exercised through the real
 * bin (`node dist/src/cli/main.js`, built by the global setup), each test in its own temporary working
 * directory; plus unit tests of the exported `whereToLook` and `summaryLine`.
 */
import { readdirSync, readFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
// The named export: under NodeNext the default import of this CommonJS module types as its namespace.
import { Ajv2020 } from "ajv/dist/2020.js"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import { parse } from "yaml"
import { summaryLine, whereToLook } from "../../src/cli/app.js"
import { CommandJob } from "../../src/jobs/command.js"
import type { RunInfo } from "../../src/tracking/store.js"
import {
  lines,
  listing,
  pythonRuns,
  readIfExists,
  repoRoot,
  runBin,
  sqliteRuns,
  startBin,
  tempDir,
  tuningModule,
  waitUntil,
  writeText
} from "../fixtures/cli-harness.js"
import { type ReceivedRequest, startWebhookServer, type WebhookServer } from "../fixtures/webhook-server.js"
import { freePort } from "../harness/net.js"
import { describeInterop } from "../harness/python.js"

const node = process.execPath

/** A CommandJob configuration running `node -e script`, alerts on the console, plus more lines of `job`. */
const commandConfig = (script: string, ...more: ReadonlyArray<string>): string =>
  [
    "job:",
    "  KIND: CommandJob",
    `  command: ${JSON.stringify([node, "-e", script])}`,
    "  alerts_service: {enable: false}",
    ...more.map((line) => `  ${line}`),
    ""
  ].join("\n")

const summaryPattern =
  /^(\w+) (FINISHED|FAILED|KILLED) in (\d+\.\d{2}) s \(run ([0-9a-f]{32})\); view: mlflow ui --backend-store-uri (sqlite:\/\/\/\S+)$/

/** The parts of a pretty summary line. */
const parseSummary = (line: string | undefined) => {
  const match = summaryPattern.exec(line ?? "")
  if (match === null) throw new Error(`not a summary line: ${JSON.stringify(line)}`)
  return { kind: match[1], status: match[2], seconds: Number(match[3]), runId: match[4], uri: match[5] }
}

describeInterop("run: a valid configuration, read back by Python mlflow", () => {
  it("a CommandJob exits 0 with a FINISHED run holding its params, tags, metrics and artifacts", async () => {
    const dir = tempDir()
    writeText(
      dir,
      "conf.yaml",
      commandConfig("console.log('hi'); console.error('to stderr')", "logger_service: {sink: job.log}")
    )
    const result = await runBin(["run", "conf.yaml"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    // The logger writes to the file: the summary is the only line left on stderr.
    expect(lines(result.stderr)).toHaveLength(1)
    const summary = parseSummary(lines(result.stderr)[0])
    expect(summary).toMatchObject({ kind: "CommandJob", status: "FINISHED", uri: "sqlite:///mlflow.db" })

    const runs = await pythonRuns(dir)
    expect(runs).toHaveLength(1)
    const run = runs[0]!
    expect(run).toMatchObject({
      run_id: summary.runId,
      name: "CommandJob",
      status: "FINISHED",
      experiment: "autogen-team"
    })
    expect(run.end_time).toBeGreaterThanOrEqual(run.start_time)
    expect(run.params).toMatchObject({
      KIND: "CommandJob",
      command: JSON.stringify([node, "-e", "console.log('hi'); console.error('to stderr')"]),
      "alerts_service.enable": "false",
      "logger_service.sink": "job.log",
      "mlflow_service.tracking_uri": "sqlite:///mlflow.db"
    })
    expect(run.tags).toMatchObject({ "job.kind": "CommandJob", "mlflow.runName": "CommandJob" })
    expect(run.metrics.exit_code).toBe(0)
    expect(run.artifacts).toEqual(
      expect.arrayContaining(["command/stdout.txt", "command/stderr.txt", "job/config.json", "logs/job.log"])
    )
    const log = readFileSync(join(dir, "job.log"), "utf8")
    expect(log).toMatch(/hi stream=stdout/)
    expect(log).toMatch(/to stderr stream=stderr/)
    expect(listing(dir)).toEqual(expect.arrayContaining(["conf.yaml", "job.log", "mlflow.db", "mlruns/"]))
  })

  it("files then -e extras are merged in order (later wins, mappings deep-merged, lists replaced) and ${env:…} resolved", async () => {
    const dir = tempDir()
    writeText(
      dir,
      "base.yaml",
      [
        "job:",
        "  KIND: CommandJob",
        `  command: ${JSON.stringify([node, "-e", "console.log('base')", "one", "two"])}`,
        "  timeout: 10",
        "  logger_service: {format: logfmt, sink: job.log}",
        '  alerts_service: {enable: false, app_name: "${env:AUTOGEN_CLI_TEST_UNSET_APP:-fallback-app}"}',
        '  mlflow_service: {experiment_name: "${env:AUTOGEN_CLI_TEST_EXPERIMENT}"}',
        ""
      ].join("\n")
    )
    writeText(dir, "override.yaml", "job:\n  timeout: 20\n  logger_service: {level: INFO}\n")
    const command = [node, "-e", "console.log(process.argv[1])", "${env:AUTOGEN_CLI_TEST_GREETING}"]
    const result = await runBin(
      [
        "run",
        "base.yaml",
        "override.yaml",
        "-e",
        `job: {timeout: 30, command: ${JSON.stringify(command)}}`,
        "--extra",
        '{"job": {"timeout": 40}}'
      ],
      {
        cwd: dir,
        env: { AUTOGEN_CLI_TEST_EXPERIMENT: "from-env", AUTOGEN_CLI_TEST_GREETING: "hello env" },
        unset: ["AUTOGEN_CLI_TEST_UNSET_APP"]
      }
    )
    expect(result.code, result.stderr).toBe(0)
    const runs = await pythonRuns(dir)
    expect(runs).toHaveLength(1)
    const run = runs[0]!
    expect(run.status).toBe("FINISHED")
    expect(run.experiment).toBe("from-env")
    expect(run.params).toMatchObject({
      timeout: "40",
      // The list of the first extra replaced the file's (five items) whole; its reference was resolved.
      command: JSON.stringify([node, "-e", "console.log(process.argv[1])", "hello env"]),
      "logger_service.format": "logfmt",
      "logger_service.level": "INFO",
      "logger_service.sink": "job.log",
      "alerts_service.app_name": "fallback-app",
      "mlflow_service.experiment_name": "from-env"
    })
    expect(readFileSync(join(dir, "job.log"), "utf8")).toMatch(/hello env/)
  })

  it("a failing job (CommandJob exiting 3) exits 1 with a FAILED run and the alert line on stdout", async () => {
    const dir = tempDir()
    writeText(
      dir,
      "conf.yaml",
      [
        "job:",
        "  KIND: CommandJob",
        `  command: ${JSON.stringify([node, "-e", "process.exit(3)"])}`,
        "  alerts_service: {enable: false, app_name: cli-test}",
        "  logger_service: {sink: job.log}",
        ""
      ].join("\n")
    )
    const result = await runBin(["run", "conf.yaml"], { cwd: dir })
    expect(result.code, result.stderr).toBe(1)
    const summary = parseSummary(lines(result.stderr).at(-1))
    // One alert line: the error, then the run, the duration, the host and where to look.
    const alertLines = lines(result.stdout)
    expect(alertLines).toHaveLength(1)
    expect(alertLines[0]).toMatch(
      new RegExp(
        `^\\[cli-test\\] CommandJob failed: command \\S+ -e 'process\\.exit\\(3\\)' exited with code 3 ` +
          `\\(run ${summary.runId}, \\d+\\.\\d{2} s on \\S+; view: mlflow ui --backend-store-uri sqlite:////\\S+/mlflow\\.db\\)$`
      )
    )
    expect(summary).toMatchObject({ kind: "CommandJob", status: "FAILED" })
    const runs = await pythonRuns(dir)
    expect(runs).toHaveLength(1)
    expect(runs[0]).toMatchObject({ run_id: summary.runId, status: "FAILED", metrics: { exit_code: 3 } })
    expect(runs[0]!.end_time).toBeGreaterThanOrEqual(runs[0]!.start_time)
    expect(readFileSync(join(dir, "job.log"), "utf8")).toMatch(/exited with code 3/)
  })
})

describe("run: a service that cannot start", () => {
  it("a tracking server that is down: exit 1 within the retry budget (+1 s), naming the server and why, never its credentials", async () => {
    const dir = tempDir()
    const port = await freePort()
    writeText(
      dir,
      "conf.yaml",
      commandConfig(
        "console.log('never runs')",
        `mlflow_service: {tracking_uri: "http://ana:s3cret@127.0.0.1:${port}", retry_budget: 2}`
      )
    )
    const result = await runBin(["run", "conf.yaml"], { cwd: dir })
    expect(result.code).toBe(1)
    const [reason, summary] = lines(result.stderr).slice(-2)
    // The failure alert (alerts on the console here) says the same.
    expect(lines(result.stdout)).toEqual([`[autogen-team] CommandJob failed: ${reason} (no run, on ${hostname()})`])
    expect(reason).toMatch(
      new RegExp(
        `^Mlflow service could not start: MLflow getOrCreateExperiment failed on http://127\\.0\\.0\\.1:${port}: ` +
          "cannot connect \\(ECONNREFUSED\\); still failing after \\d+ attempts over [\\d.]+ s, the retry budget " +
          "\\(mlflow_service\\.retry_budget: 2 s\\)$"
      )
    )
    const failed = new RegExp(
      `^CommandJob FAILED in ([\\d.]+) s \\(no run\\); view: http://127\\.0\\.0\\.1:${port}$`
    ).exec(summary ?? "")
    expect(failed, summary).not.toBeNull()
    // Timed by the summary's clock, from the job's start to its failure: Node's own start-up is left out.
    expect(Number(failed![1])).toBeLessThan(2 + 1)
    expect(result.stderr + result.stdout).not.toContain("s3cret")
  })
})

describe("run: a bad configuration or invocation exits 2 and starts and writes nothing", () => {
  // Every valid part of these configurations would write a log file, a DB and artifacts in the cwd.
  const header = [
    "job:",
    "  KIND: CommandJob",
    `  command: ${JSON.stringify([node, "-e", "console.log('never')"])}`,
    "  logger_service: {sink: job.log}",
    "  alerts_service: {enable: false}"
  ]
  const cases: ReadonlyArray<{
    readonly name: string
    readonly config?: string
    readonly args: ReadonlyArray<string>
    readonly expected: ReadonlyArray<string>
  }> = [
    {
      name: "an unknown KIND",
      config: ["job:", "  KIND: NoSuchJob", ...header.slice(2), ""].join("\n"),
      args: ["run", "bad.yaml"],
      expected: ['bad.yaml:2:3 job.KIND: unknown job kind "NoSuchJob"; registered kinds: CommandJob']
    },
    {
      name: "an unknown key",
      config: [...header, "  bogus: 1", ""].join("\n"),
      args: ["run", "bad.yaml"],
      expected: ["bad.yaml:6:3 job.bogus: unknown key"]
    },
    {
      name: "a wrong type (a quoted number)",
      config: [...header, '  timeout: "5"', ""].join("\n"),
      args: ["run", "bad.yaml"],
      expected: ['bad.yaml:6:3 job.timeout: Expected number, got "5"']
    },
    {
      name: "a wrong type in a nested service config",
      config: [...header, "  mlflow_service:", "    experiment_name: 12", ""].join("\n"),
      args: ["run", "bad.yaml"],
      expected: ["bad.yaml:7:5 job.mlflow_service.experiment_name: Expected string, got 12"]
    },
    {
      name: "broken YAML",
      config: [...header, "  timeout: : 3", ""].join("\n"),
      args: ["run", "bad.yaml"],
      expected: ["bad.yaml:6:12: Nested mappings are not allowed in compact mappings"]
    },
    {
      name: "a missing file",
      args: ["run", "missing.yaml"],
      expected: ["missing.yaml: file not found"]
    },
    {
      name: "an unset environment variable",
      config: [...header, "  mlflow_service:", "    experiment_name: ${env:AUTOGEN_CLI_TEST_UNSET_VAR}", ""].join("\n"),
      args: ["run", "bad.yaml"],
      expected: [
        "bad.yaml:7:5 job.mlflow_service.experiment_name: environment variable AUTOGEN_CLI_TEST_UNSET_VAR is not set"
      ]
    },
    {
      name: "a wrong type in an --extra",
      config: [...header, ""].join("\n"),
      args: ["run", "bad.yaml", "-e", "job: {timeout: 5}", "-e", "job: {timeout: 'x'}"],
      expected: ["--extra #2:1:7 job.timeout: Expected number"]
    },
    {
      name: "a missing argument (no file)",
      args: ["run"],
      expected: ["Missing required argument: files"]
    },
    {
      name: "an unknown flag",
      config: [...header, ""].join("\n"),
      args: ["run", "--bogus", "bad.yaml"],
      expected: ["Unrecognized flag: --bogus"]
    }
  ]

  it.each(cases)("$name", async ({ config, args, expected }) => {
    const dir = tempDir()
    if (config !== undefined) writeText(dir, "bad.yaml", config)
    const before = listing(dir)
    const result = await runBin(args, { cwd: dir, unset: ["AUTOGEN_CLI_TEST_UNSET_VAR"] })
    expect(result.code, result.stderr).toBe(2)
    for (const text of expected) expect(result.stderr).toContain(text)
    // Nothing was started: no DB, no artifacts, no log file.
    expect(listing(dir)).toEqual(before)
    expect(result.stderr).not.toMatch(/\[START\]/)
  })
})

describe("run: the summary line on stderr", () => {
  it("is one line with kind, run id, status, duration and the mlflow ui command for the store", async () => {
    const dir = tempDir()
    const db = join(dir, "store", "runs.db")
    writeText(
      dir,
      "conf.yaml",
      commandConfig(
        "console.log('hi')",
        "logger_service: {sink: job.log}",
        `mlflow_service: {tracking_uri: "sqlite:///${db}", artifact_root: ${JSON.stringify(join(dir, "artifacts"))}}`
      )
    )
    const started = performance.now()
    const result = await runBin(["run", "conf.yaml"], { cwd: dir })
    const elapsed = (performance.now() - started) / 1000
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toBe("")
    expect(lines(result.stderr)).toHaveLength(1)
    const summary = parseSummary(lines(result.stderr)[0])
    expect(summary).toMatchObject({ kind: "CommandJob", status: "FINISHED", uri: `sqlite:///${db}` })
    expect(summary.seconds).toBeGreaterThan(0)
    expect(summary.seconds).toBeLessThan(elapsed)
    expect(sqliteRuns(db).map((row) => row.run_uuid)).toEqual([summary.runId])
  })

  it("--quiet hides it (and the run still happens)", async () => {
    const dir = tempDir()
    writeText(dir, "conf.yaml", commandConfig("console.log('hi')", "logger_service: {sink: job.log}"))
    for (const flag of ["--quiet", "-q"]) {
      const result = await runBin(["run", flag, "conf.yaml"], { cwd: dir })
      expect(result.code, result.stderr).toBe(0)
      expect(result.stderr).toBe("")
    }
    expect(sqliteRuns(join(dir, "mlflow.db")).map((row) => row.status)).toEqual(["FINISHED", "FINISHED"])
  })

  it("is a JSON line when the job logs JSON", async () => {
    const dir = tempDir()
    writeText(dir, "conf.yaml", commandConfig("console.log('hi')", "logger_service: {format: json}"))
    const result = await runBin(["run", "conf.yaml"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    // The logger writes to stderr too: every line there is JSON, the summary last.
    const records = lines(result.stderr).map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(records.length).toBeGreaterThan(1)
    const summary = records.at(-1)
    expect(summary).toEqual({
      summary: true,
      kind: "CommandJob",
      run_id: expect.stringMatching(/^[0-9a-f]{32}$/),
      status: "FINISHED",
      duration_seconds: expect.any(Number),
      view: "mlflow ui --backend-store-uri sqlite:///mlflow.db"
    })
    expect(records.slice(0, -1).some((record) => "summary" in record)).toBe(false)
    expect(sqliteRuns(join(dir, "mlflow.db")).map((row) => row.run_uuid)).toEqual([summary?.run_id])
  })
})

describe("summaryLine and whereToLook", () => {
  const info = { runId: "0123456789abcdef0123456789abcdef" } as RunInfo
  const job = (format: "pretty" | "json", trackingUri = "sqlite:///mlflow.db") =>
    new CommandJob({
      command: ["true"],
      logger_service: { sink: "stderr", level: "INFO", format, colorize: false },
      mlflow_service: { tracking_uri: trackingUri, artifact_root: "./mlruns", experiment_name: "x" }
    })

  it("whereToLook: the mlflow ui command for sqlite, the run page without credentials for a server, nowhere for memory", () => {
    expect(whereToLook("sqlite:///mlflow.db")).toBe("mlflow ui --backend-store-uri sqlite:///mlflow.db")
    expect(whereToLook("https://ana:s3cret@mlflow.example.com:5000")).not.toContain("s3cret")
    expect(whereToLook("https://ana:s3cret@mlflow.example.com:5000")).toContain("mlflow.example.com:5000")
    expect(whereToLook("none")).toMatch(/^nowhere/)
    expect(whereToLook("memory://")).toMatch(/^nowhere/)
    // An in-memory SQLite database is gone with its process: no mlflow ui command can show it.
    for (const uri of ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite:///%3Amemory%3A?cache=shared"]) {
      expect(whereToLook(uri)).toBe("nowhere: the run was kept in memory only")
    }
    // With the run: its page on the server.
    const run = { runId: "0123456789abcdef0123456789abcdef", experimentId: "7" } as RunInfo
    expect(whereToLook("https://ana:s3cret@mlflow.example.com:5000/", run)).toBe(
      "https://mlflow.example.com:5000/#/experiments/7/runs/0123456789abcdef0123456789abcdef"
    )
  })

  it("summaryLine: pretty and JSON, with and without a run, for each status", () => {
    expect(summaryLine({ job: job("pretty") }, info, Exit.succeed(1), 1.234)).toBe(
      "CommandJob FINISHED in 1.23 s (run 0123456789abcdef0123456789abcdef); view: mlflow ui --backend-store-uri sqlite:///mlflow.db"
    )
    expect(summaryLine({ job: job("pretty", "memory://") }, undefined, Exit.fail("no"), 0.5)).toBe(
      "CommandJob FAILED in 0.50 s (no run); view: nowhere: the run was kept in memory only"
    )
    const json = JSON.parse(summaryLine({ job: job("json") }, info, Exit.failCause(Cause.interrupt()), 2.34567))
    expect(json).toEqual({
      summary: true,
      kind: "CommandJob",
      run_id: info.runId,
      status: "KILLED",
      duration_seconds: 2.346,
      view: "mlflow ui --backend-store-uri sqlite:///mlflow.db"
    })
    expect(JSON.parse(summaryLine({ job: job("json") }, undefined, Exit.succeed(1), 0)).run_id).toBeNull()
  })
})

describe("validate", () => {
  it("prints the normalized configuration (defaults filled, secrets masked), exits 0 and writes nothing", async () => {
    const dir = tempDir()
    writeText(
      dir,
      "conf.yaml",
      [
        "job:",
        "  KIND: CommandJob",
        "  command: [node, -e, \"console.log('x')\"]",
        "  env: {API_TOKEN: s3cret-value}",
        "  logger_service: {sink: job.log, level: INFO}",
        ""
      ].join("\n")
    )
    const before = listing(dir)
    const result = await runBin(["validate", "conf.yaml", "-e", "job: {timeout: 9}"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stderr).toBe("")
    expect(result.stdout).not.toContain("s3cret-value")
    expect(parse(result.stdout)).toEqual({
      job: {
        KIND: "CommandJob",
        command: ["node", "-e", "console.log('x')"],
        env: { API_TOKEN: "<redacted>" },
        timeout: 9,
        logger_service: { sink: "job.log", level: "INFO", format: "pretty", colorize: true },
        alerts_service: {
          enable: true,
          app_name: "autogen-team",
          timeout: 5,
          on_success: false,
          channels: [{ type: "desktop" }]
        },
        mlflow_service: {
          tracking_uri: "sqlite:///mlflow.db",
          artifact_root: "./mlruns",
          experiment_name: "autogen-team",
          retry_budget: 30,
          request_timeout: 10
        }
      }
    })
    expect(listing(dir)).toEqual(before)
  })

  it("the normalized output is itself a valid configuration", async () => {
    const dir = tempDir()
    writeText(dir, "conf.yaml", commandConfig("console.log('x')", "timeout: 3"))
    const first = await runBin(["validate", "conf.yaml"], { cwd: dir })
    expect(first.code, first.stderr).toBe(0)
    writeText(dir, "normalized.yaml", first.stdout)
    const second = await runBin(["validate", "normalized.yaml"], { cwd: dir })
    expect(second.code, second.stderr).toBe(0)
    expect(second.stdout).toBe(first.stdout)
    expect(listing(dir)).toEqual(["conf.yaml", "normalized.yaml"])
  })

  it("exits 2 on an invalid configuration, naming the file, line, column and path", async () => {
    const dir = tempDir()
    writeText(dir, "conf.yaml", commandConfig("console.log('x')", "timeout: -1"))
    const result = await runBin(["validate", "conf.yaml"], { cwd: dir })
    expect(result.code).toBe(2)
    expect(result.stdout).toBe("")
    expect(result.stderr).toMatch(/conf\.yaml:5:3 job\.timeout: /)
    expect(listing(dir)).toEqual(["conf.yaml"])
  })
})

/**
 * Ajv 2020-12 with every error listed; strict, so a keyword Ajv does not know fails the compile. Except
 * `strictTuples`: it flags open tuples (`prefixItems` + `items`), which is how a non-empty array is written.
 */
const ajv = () => new Ajv2020({ allErrors: true, strict: true, strictTuples: false })

const schemaOf = async (args: ReadonlyArray<string>): Promise<Record<string, unknown>> => {
  const dir = tempDir()
  const result = await runBin(["schema", ...args], { cwd: dir })
  expect(result.code, result.stderr).toBe(0)
  expect(listing(dir)).toEqual([])
  return JSON.parse(result.stdout) as Record<string, unknown>
}

const confs = readdirSync(join(repoRoot, "confs"))
  .filter((name) => /\.ya?ml$/.test(name))
  .map((name) => ({ name, value: parse(readFileSync(join(repoRoot, "confs", name), "utf8")) as unknown }))

const kindOf = (value: unknown): unknown =>
  (value as { readonly job?: { readonly KIND?: unknown } } | null)?.job?.KIND ?? undefined

describe("schema", () => {
  it("validates every configuration under confs/ (TuningJob ones with --jobs) and rejects broken ones", async () => {
    expect(confs.map((conf) => conf.name)).toEqual(expect.arrayContaining(["command.yaml", "tuning.yaml"]))
    const stock = ajv().compile(await schemaOf([]))
    const withTuning = ajv().compile(await schemaOf(["--jobs", tuningModule]))
    for (const conf of confs) {
      const validate = kindOf(conf.value) === "TuningJob" ? withTuning : stock
      expect(validate(conf.value), `${conf.name}: ${JSON.stringify(validate.errors)}`).toBe(true)
      expect(withTuning(conf.value), conf.name).toBe(true)
    }
    // The stock bin does not know TuningJob: its schema refuses a TuningJob configuration.
    const tuning = confs.find((conf) => kindOf(conf.value) === "TuningJob")
    expect(tuning).toBeDefined()
    expect(stock(tuning?.value)).toBe(false)

    const command = confs.find((conf) => conf.name === "command.yaml")!.value as { job: Record<string, unknown> }
    const broken: ReadonlyArray<readonly [string, unknown]> = [
      ["unknown key in the job", { job: { ...command.job, bogus: 1 } }],
      ["unknown top-level key", { ...command, extra: true }],
      ["unknown key in a service", { job: { ...command.job, logger_service: { levle: "INFO" } } }],
      ["wrong type", { job: { ...command.job, timeout: "60" } }],
      ["wrong enum value", { job: { ...command.job, logger_service: { level: "VERBOSE" } } }],
      ["unknown KIND", { job: { ...command.job, KIND: "NoSuchJob" } }],
      ["missing required field", { job: { KIND: "CommandJob" } }],
      ["no job", {}]
    ]
    for (const [name, value] of broken) {
      expect(stock(value), name).toBe(false)
      expect(withTuning(value), name).toBe(false)
    }
  })

  it("has the defaults and descriptions of the service settings", async () => {
    const schema = await schemaOf([])
    const defs = schema.$defs as Record<string, { properties: Record<string, Record<string, unknown>> }>
    const command = Object.values(defs).find((def) => def.properties?.command !== undefined)
    expect(command).toBeDefined()
    const service = (name: string) =>
      command!.properties[name] as { properties: Record<string, Record<string, unknown>>; default: unknown }
    expect(service("logger_service").properties.level).toMatchObject({
      default: "DEBUG",
      description: expect.stringMatching(/level/i),
      enum: ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
    })
    expect(service("logger_service").default).toEqual({
      sink: "stderr",
      level: "DEBUG",
      format: "pretty",
      colorize: true
    })
    for (const name of ["logger_service", "alerts_service", "mlflow_service"]) {
      expect(service(name).properties, name).not.toEqual({})
      for (const [key, property] of Object.entries(service(name).properties)) {
        expect(property.description, `${name}.${key}`).toEqual(expect.any(String))
        expect(property, `${name}.${key}`).toHaveProperty("default")
      }
    }
    expect(service("mlflow_service").properties.tracking_uri?.default).toBe("sqlite:///mlflow.db")
    expect(command!.properties.command?.description).toEqual(expect.any(String))
  })

  it("agrees with the decoder: what validate accepts, the schema accepts, and what it refuses, the schema refuses", async () => {
    const validate = ajv().compile(await schemaOf([]))
    const documents: ReadonlyArray<unknown> = [
      { job: { KIND: "CommandJob", command: ["node"] } },
      { job: { KIND: "CommandJob", command: ["node"], timeout: 1.5, env: { A: "b" } } },
      // KIND is required in a file, even with a single known kind.
      { job: { command: ["node"] } },
      { job: { KIND: "CommandJob", command: [] } },
      { job: { KIND: "CommandJob", command: ["node"], timeout: 0 } },
      { job: { KIND: "CommandJob", command: ["node"], alerts_service: { enable: "yes" } } }
    ]
    const dir = tempDir()
    const verdicts = await Promise.all(
      documents.map(async (document, index) => {
        writeText(dir, `doc${index}.json`, JSON.stringify(document))
        const result = await runBin(["validate", `doc${index}.json`], { cwd: dir })
        return { document, decoder: result.code === 0, schema: validate(document) }
      })
    )
    expect(verdicts.map((verdict) => verdict.decoder)).toEqual([true, true, false, false, false, false])
    for (const verdict of verdicts) expect(verdict.schema, JSON.stringify(verdict.document)).toBe(verdict.decoder)
  })
})

/** The rows of a help section (`ARGUMENTS`, `FLAGS`, …): each is `<name and type>  <description>`. */
const helpSection = (help: string, title: string): ReadonlyArray<{ readonly name: string; readonly text: string }> => {
  const section = help.split(/\n(?=[A-Z ]+\n)/).find((part) => part.trimStart().startsWith(`${title}\n`))
  if (section === undefined) return []
  return lines(section)
    .slice(1)
    .map((line) => {
      const [name = "", text = ""] = line.trim().split(/\s{2,}/)
      return { name, text }
    })
}

describe("--help", () => {
  const expectations: ReadonlyArray<{
    readonly command: ReadonlyArray<string>
    readonly usage: string
    readonly arguments: ReadonlyArray<string>
    readonly flags: ReadonlyArray<string>
  }> = [
    { command: [], usage: "autogen-team <subcommand> [flags]", arguments: [], flags: [] },
    {
      command: ["run"],
      usage: "autogen-team run [flags] <files...>",
      arguments: ["files..."],
      flags: ["--extra, -e", "--jobs", "--quiet, -q"]
    },
    {
      command: ["validate"],
      usage: "autogen-team validate [flags] <files...>",
      arguments: ["files..."],
      flags: ["--extra, -e", "--jobs"]
    },
    { command: ["schema"], usage: "autogen-team schema [flags]", arguments: [], flags: ["--jobs"] },
    { command: ["kinds"], usage: "autogen-team kinds [flags]", arguments: [], flags: ["--jobs"] }
  ]

  it.each(expectations)("$command: every argument and flag with a description", async (expected) => {
    const dir = tempDir()
    const result = await runBin([...expected.command, "--help"], { cwd: dir })
    expect(result.code, result.stderr).toBe(0)
    const help = result.stdout
    expect(help).toContain(expected.usage)
    const description = helpSection(help, "DESCRIPTION")
    expect(description.length).toBeGreaterThan(0)
    const args = helpSection(help, "ARGUMENTS")
    const flags = helpSection(help, "FLAGS")
    expect(args.map((row) => row.name.split(" ")[0])).toEqual(expected.arguments)
    expect(flags.map((row) => row.name.replace(/ (string|<.*>)$/, ""))).toEqual(expected.flags)
    for (const row of [...args, ...flags, ...helpSection(help, "GLOBAL FLAGS")]) {
      expect(row.text.length, `${row.name} has no description`).toBeGreaterThan(10)
    }
    if (expected.command.length === 0) {
      const subcommands = helpSection(help, "SUBCOMMANDS")
      expect(subcommands.map((row) => row.name)).toEqual(["run", "validate", "schema", "kinds"])
      for (const row of subcommands) expect(row.text.length, row.name).toBeGreaterThan(10)
    }
    if (expected.command[0] === "run") {
      // The exit codes are part of the contract and of the help.
      expect(help).toMatch(/0 success, 1 job failed, 2 bad invocation or configuration, 130 SIGINT, 143 SIGTERM/)
    }
    expect(listing(dir)).toEqual([])
  })
})

/** Every file under `dir`, read as bytes, with its path relative to `dir`. */
const everyFile = (dir: string): ReadonlyArray<{ readonly name: string; readonly bytes: Buffer }> =>
  listing(dir)
    .filter((name) => !name.endsWith("/"))
    .map((name) => ({ name, bytes: readFileSync(join(dir, name)) }))

/** The JSON body of a request the webhook server received. */
const bodyOf = (request: ReceivedRequest | undefined): Record<string, unknown> => {
  expect(request).toBeDefined()
  return JSON.parse(request!.body) as Record<string, unknown>
}

describe("run: alerts to webhooks (a real HTTP server on 127.0.0.1)", () => {
  let server: WebhookServer
  beforeEach(async () => {
    server = await startWebhookServer({
      // Echoes what it received, secrets included, in a refusal: the warning must still show none of them.
      "/echo/T0/B0/S3CRET-path-7f3a": (request) => ({
        status: 400,
        body: `no such hook: ${request.url} (${request.headers.authorization})`
      })
    })
  })
  afterEach(() => server.close())

  it("SIGTERM: exit 143, the run KILLED, and exactly one interruption alert on each webhook", async () => {
    const dir = tempDir()
    writeText(
      dir,
      "conf.yaml",
      [
        "job:",
        "  KIND: CommandJob",
        `  command: ${JSON.stringify([node, "-e", "console.log('started'); setInterval(() => {}, 1000)"])}`,
        "  logger_service: {sink: job.log}",
        "  alerts_service:",
        "    channels:",
        `      - {type: webhook, url: "${server.url("/hook")}"}`,
        `      - {type: teams, url: "${server.url("/teams?sig=x")}"}`,
        ""
      ].join("\n")
    )
    const started = startBin(["run", "conf.yaml"], { cwd: dir })
    await waitUntil(
      () => (readIfExists(join(dir, "job.log")).includes("started stream=stdout") ? true : undefined),
      "the command to start"
    )
    started.child.kill("SIGTERM")
    const result = await started.done
    expect(result.code, result.stderr).toBe(143)
    const [run] = sqliteRuns(join(dir, "mlflow.db"))
    expect(run?.status).toBe("KILLED")

    expect(server.requestsTo("/hook")).toHaveLength(1)
    expect(server.requestsTo("/teams")).toHaveLength(1)
    const alert = bodyOf(server.requestsTo("/hook")[0])
    expect(alert).toMatchObject({
      app_name: "autogen-team",
      title: "CommandJob interrupted",
      level: "warning",
      fields: { kind: "CommandJob", status: "KILLED", run_id: run?.run_uuid, experiment: "autogen-team" }
    })
    expect(alert.message).toMatch(new RegExp(`^interrupted \\(run ${run?.run_uuid}, \\d+\\.\\d{2} s on `))
    const card = JSON.stringify(bodyOf(server.requestsTo("/teams")[0]))
    expect(card).toContain("CommandJob interrupted")
    // Delivered while the logger was still running: no warning about a channel, and the logger's STOP last.
    const log = readFileSync(join(dir, "job.log"), "utf8")
    expect(log).not.toMatch(/alert channel/)
    expect(lines(log).at(-1)).toContain("[STOP] Logger")
  })

  it("a failing job: one failure alert per channel with the error; secrets nowhere (logs, output, DB, artifacts)", async () => {
    const dir = tempDir()
    // A port nobody listens on (it was free a moment ago): connections are refused.
    const refused = await freePort()
    const env = {
      AUTOGEN_TEST_ECHO_URL: server.url("/echo/T0/B0/S3CRET-path-7f3a?sig=S3CRET-sig-91bd"),
      AUTOGEN_TEST_TOKEN: "Bearer S3CRET-token-c0de",
      AUTOGEN_TEST_SLACK_URL: server.url("/slack/T0/B0/S3CRET-slack-4e21"),
      AUTOGEN_TEST_REFUSED_URL: `http://127.0.0.1:${refused}/api/webhooks/1/S3CRET-discord-77aa`
    }
    writeText(
      dir,
      "conf.yaml",
      [
        "job:",
        "  KIND: CommandJob",
        `  command: ${JSON.stringify([node, "-e", "console.error('diverged'); process.exit(3)"])}`,
        "  logger_service: {sink: job.log, level: DEBUG}",
        "  alerts_service:",
        "    app_name: nightly",
        "    channels:",
        '      - {type: webhook, url: "${env:AUTOGEN_TEST_ECHO_URL}", headers: {Authorization: "${env:AUTOGEN_TEST_TOKEN}"}}',
        '      - {type: slack, url: "${env:AUTOGEN_TEST_SLACK_URL}"}',
        '      - {type: discord, url: "${env:AUTOGEN_TEST_REFUSED_URL}"}',
        `      - {type: webhook, name: plain, url: "${server.url("/plain")}"}`,
        ""
      ].join("\n")
    )
    const result = await runBin(["run", "conf.yaml"], { cwd: dir, env })
    expect(result.code, result.stderr).toBe(1)
    const [run] = sqliteRuns(join(dir, "mlflow.db"))
    expect(run?.status).toBe("FAILED")

    // Exactly one alert per channel (the 400 is not retried), each with the error summary.
    expect(server.requestsTo("/echo/T0/B0/S3CRET-path-7f3a")).toHaveLength(1)
    expect(server.requestsTo("/slack/T0/B0/S3CRET-slack-4e21")).toHaveLength(1)
    expect(server.requestsTo("/plain")).toHaveLength(1)
    const plain = bodyOf(server.requestsTo("/plain")[0])
    expect(plain).toMatchObject({
      app_name: "nightly",
      title: "CommandJob failed",
      level: "error",
      fields: { kind: "CommandJob", status: "FAILED", run_id: run?.run_uuid }
    })
    expect(plain.message).toMatch(/^command \S+ -e .* exited with code 3 \(run [0-9a-f]{32}, /)
    const slack = bodyOf(server.requestsTo("/slack/T0/B0/S3CRET-slack-4e21")[0])
    expect(slack.text).toMatch(/^CommandJob failed: command .* exited with code 3/)
    expect(server.requestsTo("/echo/T0/B0/S3CRET-path-7f3a")[0]?.headers.authorization).toBe(env.AUTOGEN_TEST_TOKEN)

    // The failing channels are warnings naming them; the refused one was retried (DEBUG lines).
    const log = readFileSync(join(dir, "job.log"), "utf8")
    expect(log).toMatch(/alert channel webhook failed: HTTP 400: no such hook: <redacted> \(<redacted>\) \(1 attempt\)/)
    expect(log).toMatch(/alert channel discord failed: request failed: ECONNREFUSED \(4 attempts\)/)
    expect(log).toMatch(/alert channel discord: attempt 1 failed \(request failed: ECONNREFUSED\); retrying/)

    // What `validate` prints of the same configuration.
    const validated = await runBin(["validate", "conf.yaml"], { cwd: dir, env })
    expect(validated.code, validated.stderr).toBe(0)
    expect(validated.stdout).toContain("<redacted>")

    const files = everyFile(dir)
    expect(files.map((file) => file.name)).toEqual(
      expect.arrayContaining(["conf.yaml", "job.log", "mlflow.db", expect.stringMatching(/job\/config\.json$/)])
    )
    const places = [
      { name: "stdout", bytes: Buffer.from(result.stdout + validated.stdout) },
      { name: "stderr", bytes: Buffer.from(result.stderr + validated.stderr) },
      ...files
    ]
    for (const place of places) {
      expect(place.bytes.includes("S3CRET"), `a secret in ${place.name}`).toBe(false)
      // SQLite may store text as UTF-16 in other databases; this one is UTF-8, but check both.
      expect(place.bytes.includes(Buffer.from("S3CRET", "utf16le")), `a secret in ${place.name}`).toBe(false)
    }
    // Not vacuous: the channels were recorded, masked, in the config artifact and in the params (the DB).
    const config = files.find((file) => file.name.endsWith("job/config.json"))
    expect(config?.bytes.toString("utf8")).toContain('"url": "<redacted>"')
    const db = Buffer.concat(files.filter((file) => file.name.startsWith("mlflow.db")).map((file) => file.bytes))
    expect(db.includes("alerts_service.channels")).toBe(true)
    expect(db.includes('"url":"<redacted>"')).toBe(true)
  })

  it("a headless machine (no DISPLAY): desktop alerts fall back to the console line, the job exits 0", async () => {
    const dir = tempDir()
    writeText(
      dir,
      "conf.yaml",
      [
        "job:",
        "  KIND: CommandJob",
        `  command: ${JSON.stringify([node, "-e", "0"])}`,
        "  logger_service: {sink: job.log}",
        "  alerts_service: {on_success: true}",
        ""
      ].join("\n")
    )
    const result = await runBin(["run", "conf.yaml"], { cwd: dir, unset: ["DISPLAY", "WAYLAND_DISPLAY"] })
    expect(result.code, result.stderr).toBe(0)
    const [run] = sqliteRuns(join(dir, "mlflow.db"))
    expect(lines(result.stdout)).toEqual([
      expect.stringMatching(
        new RegExp(`^\\[autogen-team\\] CommandJob finished: finished \\(run ${run?.run_uuid}, \\d+\\.\\d{2} s on `)
      )
    ])
    expect(readFileSync(join(dir, "job.log"), "utf8")).not.toMatch(/WARN/)
  })
})
