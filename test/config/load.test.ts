// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests are about literal `${env:…}` text in configuration strings
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { afterAll } from "vitest"
import { ConfigError } from "../../src/config/decode.js"
import { decodeLoaded, loadConfig } from "../../src/config/load.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "autogen-load-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

let dirs = 0
/** A fresh directory holding `files` (relative path → lines), used as `cwd` so sources read as written. */
const workspace = (files: Record<string, ReadonlyArray<string> | string>): string => {
  const dir = path.join(root, `case-${++dirs}`)
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), typeof content === "string" ? content : `${content.join("\n")}\n`)
  }
  fs.mkdirSync(dir, { recursive: true })
  return dir
}

const noEnv = {}

describe("loadConfig: layers", () => {
  it.effect("deep-merges two YAML files and two extras: later wins, lists replaced, null kept as null", () =>
    Effect.gen(function* () {
      const cwd = workspace({
        "confs/base.yaml": [
          "job:", //                                  line 1
          "  KIND: TrainingJob",
          "  epochs: 10",
          "  layers: [64, 32, 16]",
          "  optimizer:", //                          line 5
          "    name: adam",
          "    lr: 0.01",
          "  notes: keep",
          "logger_service:",
          "  level: DEBUG" //                         line 10
        ],
        "confs/override.yml": ["job:", "  epochs: 20", "  layers: [8]", "  optimizer:", "    lr: 0.1"]
      })
      const loaded = yield* loadConfig({
        files: ["confs/base.yaml", "confs/override.yml"],
        extras: ["job: {notes: null, optimizer: {momentum: 0.9}}", '{"job": {"epochs": 30}, "tags": ["a", "b"]}'],
        env: noEnv,
        cwd
      })
      assert.deepStrictEqual(loaded.value, {
        job: {
          KIND: "TrainingJob",
          epochs: 30,
          layers: [8],
          optimizer: { name: "adam", lr: 0.1, momentum: 0.9 },
          notes: null
        },
        logger_service: { level: "DEBUG" },
        tags: ["a", "b"]
      })
      assert.deepStrictEqual(loaded.sources, ["confs/base.yaml", "confs/override.yml", "--extra #1", "--extra #2"])
      assert.isTrue(Object.isFrozen(loaded.value))

      // Every value is located where the layer that wrote it last has it: a mapping entry at its key.
      assert.deepStrictEqual(loaded.locate(["job", "KIND"]), { source: "confs/base.yaml", line: 2, column: 3 })
      assert.deepStrictEqual(loaded.locate(["job", "optimizer", "name"]), {
        source: "confs/base.yaml",
        line: 6,
        column: 5
      })
      assert.deepStrictEqual(loaded.locate(["job", "optimizer", "lr"]), {
        source: "confs/override.yml",
        line: 5,
        column: 5
      })
      assert.deepStrictEqual(loaded.locate(["job", "layers"]), { source: "confs/override.yml", line: 3, column: 3 })
      assert.deepStrictEqual(loaded.locate(["job", "layers", 0]), { source: "confs/override.yml", line: 3, column: 12 })
      assert.deepStrictEqual(loaded.locate(["job", "notes"]), { source: "--extra #1", line: 1, column: 7 })
      assert.deepStrictEqual(loaded.locate(["job", "epochs"]), { source: "--extra #2", line: 1, column: 10 })
      assert.deepStrictEqual(loaded.locate(["tags", 1]), { source: "--extra #2", line: 1, column: 39 })
      assert.deepStrictEqual(loaded.locate(["logger_service", "level"]), {
        source: "confs/base.yaml",
        line: 10,
        column: 3
      })
      // A merged mapping is located in the last layer that wrote it; a missing path at its nearest ancestor.
      assert.deepStrictEqual(loaded.locate(["job", "optimizer"]), { source: "--extra #1", line: 1, column: 20 })
      assert.deepStrictEqual(loaded.locate(["job", "optimizer", "beta", 3]), loaded.locate(["job", "optimizer"]))
      assert.deepStrictEqual(loaded.locate(["job", "layers", 5]), loaded.locate(["job", "layers"]))
      assert.deepStrictEqual(loaded.locate(["job", "KIND", "deeper"]), loaded.locate(["job", "KIND"]))
    })
  )

  it.effect("a later layer replaces a mapping with a scalar, and a scalar with a mapping", () =>
    Effect.gen(function* () {
      const cwd = workspace({ "a.yaml": ["x: {deep: 1}", "y: 2"], "b.yaml": ["x: off", "y: {now: mapping}"] })
      const loaded = yield* loadConfig({ files: ["a.yaml", "b.yaml"], env: noEnv, cwd })
      assert.deepStrictEqual(loaded.value, { x: "off", y: { now: "mapping" } })
      assert.deepStrictEqual(loaded.locate(["x", "deep"]), { source: "b.yaml", line: 1, column: 1 })
    })
  )

  it.effect("reads JSON files (tabs, nesting) with locations, and reports JSON syntax errors at line:column", () =>
    Effect.gen(function* () {
      const cwd = workspace({
        "conf.json": ["{", '\t"job": {', '\t\t"epochs": 3,', '\t\t"layers": [1, 2],', '\t\t"name": "x"', "\t}", "}"],
        "broken.json": ["{", '  "job": {', '    "epochs": 3,', '    "epochs": 4', "  }", "}"]
      })
      const loaded = yield* loadConfig({ files: ["conf.json"], env: noEnv, cwd })
      assert.deepStrictEqual(loaded.value, { job: { epochs: 3, layers: [1, 2], name: "x" } })
      assert.deepStrictEqual(loaded.locate(["job", "epochs"]), { source: "conf.json", line: 3, column: 3 })
      assert.deepStrictEqual(loaded.locate(["job", "layers", 1]), { source: "conf.json", line: 4, column: 17 })

      const error = yield* Effect.flip(loadConfig({ files: ["broken.json"], env: noEnv, cwd }))
      assert.strictEqual(error.source, "broken.json")
      assert.deepStrictEqual(error.issues, [
        { path: "", message: "Map keys must be unique", source: "broken.json", line: 4, column: 5 }
      ])
      assert.strictEqual(
        error.message,
        "invalid configuration in broken.json:\n  - broken.json:4:5: Map keys must be unique"
      )
    })
  )

  it.effect("an empty or comment-only layer is an empty mapping; any extension is read as YAML", () =>
    Effect.gen(function* () {
      const cwd = workspace({ "empty.yaml": "", "comments.yaml": ["# nothing set here"], "conf.txt": ["a: 1"] })
      const loaded = yield* loadConfig({ files: ["empty.yaml", "conf.txt", "comments.yaml"], env: noEnv, cwd })
      assert.deepStrictEqual(loaded.value, { a: 1 })
      assert.deepStrictEqual(loaded.locate(["a"]), { source: "conf.txt", line: 1, column: 1 })
      const nothing = yield* loadConfig({ files: [], env: noEnv, cwd })
      assert.deepStrictEqual(nothing.value, {})
      assert.deepStrictEqual(nothing.sources, [])
      assert.isUndefined(nothing.locate(["a"]))
    })
  )

  it.effect("anchors, aliases and merge keys (<<) work; values a merge key brings are located at their anchor", () =>
    Effect.gen(function* () {
      const cwd = workspace({
        "conf.yaml": [
          "defaults: &defaults",
          "  lr: 0.1",
          "  epochs: 5",
          "job:",
          "  <<: *defaults",
          "  epochs: 7",
          "  again: *defaults"
        ]
      })
      const loaded = yield* loadConfig({ files: ["conf.yaml"], env: noEnv, cwd })
      assert.deepStrictEqual(loaded.value, {
        defaults: { lr: 0.1, epochs: 5 },
        job: { lr: 0.1, epochs: 7, again: { lr: 0.1, epochs: 5 } }
      })
      assert.deepStrictEqual(loaded.locate(["job", "lr"]), { source: "conf.yaml", line: 2, column: 3 })
      assert.deepStrictEqual(loaded.locate(["job", "epochs"]), { source: "conf.yaml", line: 6, column: 3 })
      assert.deepStrictEqual(loaded.locate(["job", "again"]), { source: "conf.yaml", line: 7, column: 3 })
    })
  )

  it.effect("refuses aliases that expand without bound, and aliases to their own ancestor", () =>
    Effect.gen(function* () {
      const level = (name: string, previous: string) => `${name}: &${name} [${Array(10).fill(`*${previous}`)}]`
      const bomb = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]", level("b", "a"), level("c", "b"), level("d", "c")]
      const laughs = yield* Effect.flip(
        loadConfig({ files: [], extras: [[...bomb, level("e", "d"), level("f", "e")].join("\n")], env: noEnv })
      )
      expect(laughs.message).toMatch(/aliases expand to more than 100000 values/)
      const cycle = yield* Effect.flip(loadConfig({ files: [], extras: ["a: &a [*a]"], env: noEnv }))
      assert.deepStrictEqual(cycle.issues, [
        {
          path: "a[0]",
          message: "alias *a refers to a collection that contains it",
          source: "--extra #1",
          line: 1,
          column: 8
        }
      ])
    })
  )
})

describe("loadConfig: errors", () => {
  it.effect("a YAML syntax error names the file, line and column with the parser's message", () =>
    Effect.gen(function* () {
      const cwd = workspace({
        "confs/ok.yaml": ["job: {epochs: 1}"],
        "confs/bad.yaml": ["job:", "  epochs: 1", "  lr: 0.1", " name: x"]
      })
      const error = yield* Effect.flip(loadConfig({ files: ["confs/ok.yaml", "confs/bad.yaml"], env: noEnv, cwd }))
      assert.instanceOf(error, ConfigError)
      assert.strictEqual(error.source, "confs/bad.yaml")
      assert.deepStrictEqual(error.issues, [
        {
          path: "",
          message: "All mapping items must start at the same column",
          source: "confs/bad.yaml",
          line: 4,
          column: 1
        }
      ])
      assert.strictEqual(
        error.message,
        "invalid configuration in confs/bad.yaml:\n  - confs/bad.yaml:4:1: All mapping items must start at the same column"
      )
    })
  )

  it.effect("a syntax error in an extra is located in that extra, named --extra #n", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        loadConfig({ files: [], extras: ["a: 1", "b: 2", 'job: {lr: "0.1}'], env: noEnv })
      )
      assert.strictEqual(error.source, "--extra #3")
      assert.deepStrictEqual(error.issues[0], {
        path: "",
        message: 'Missing closing "quote',
        source: "--extra #3",
        line: 1,
        column: 16
      })
    })
  )

  it.effect("the top level of every layer must be a mapping", () =>
    Effect.gen(function* () {
      const cwd = workspace({ "list.yaml": ["- a", "- b"], "ok.yaml": ["a: 1"] })
      const list = yield* Effect.flip(loadConfig({ files: ["ok.yaml", "list.yaml"], env: noEnv, cwd }))
      assert.strictEqual(list.source, "list.yaml")
      assert.strictEqual(
        list.message,
        "invalid configuration in list.yaml:\n  - list.yaml:1:1: the top level must be a mapping of keys to values, not a list"
      )
      const scalar = yield* Effect.flip(loadConfig({ files: ["ok.yaml"], extras: ["epochs=3"], env: noEnv, cwd }))
      assert.deepStrictEqual(scalar.issues, [
        {
          path: "",
          message: "the top level must be a mapping of keys to values, not a single value",
          source: "--extra #1",
          line: 1,
          column: 1
        }
      ])
    })
  )

  it.effect("a missing file is an error naming it, before any other file is read or parsed", () =>
    Effect.gen(function* () {
      const cwd = workspace({ "bad.yaml": ["a: [1"], "ok.yaml": ["a: 1"] })
      const missing = yield* Effect.flip(
        loadConfig({ files: ["ok.yaml", "confs/missing.yaml", "bad.yaml"], extras: ["{"], env: noEnv, cwd })
      )
      assert.strictEqual(missing.source, "confs/missing.yaml")
      assert.deepStrictEqual(missing.issues, [{ path: "", message: "file not found", source: "confs/missing.yaml" }])
      assert.strictEqual(
        missing.message,
        "invalid configuration in confs/missing.yaml:\n  - confs/missing.yaml: file not found"
      )
      const directory = yield* Effect.flip(loadConfig({ files: ["."], env: noEnv, cwd }))
      assert.deepStrictEqual(directory.issues, [{ path: "", message: "is a directory, not a file", source: "." }])
    })
  )

  it.effect("absolute paths are read as given, whatever cwd is", () =>
    Effect.gen(function* () {
      const dir = workspace({ "abs.yaml": ["a: 1"] })
      const file = path.join(dir, "abs.yaml")
      const loaded = yield* loadConfig({ files: [file], env: noEnv, cwd: os.tmpdir() })
      assert.deepStrictEqual(loaded.value, { a: 1 })
      assert.deepStrictEqual(loaded.locate(["a"]), { source: file, line: 1, column: 1 })
    })
  )
})

describe("loadConfig: ${env:…} interpolation", () => {
  it.effect("substitutes variables, defaults (also for empty values), several per string, and $${ escapes", () =>
    Effect.gen(function* () {
      const cwd = workspace({
        "conf.yaml": [
          "mlflow_service:",
          "  tracking_uri: ${env:MLFLOW_URI}",
          "  experiment_name: ${env:EXPERIMENT:-default-exp}",
          "  artifact_root: ${env:EMPTY:-./mlruns}",
          "job:",
          "  name: ${env:USER_NAME}-${env:RUN:-0}/${env:USER_NAME}",
          "  literal: $${env:HOME} costs $$5 and $${x}",
          "  epochs: ${env:EPOCHS}",
          '  list: ["${env:A}", plain, 3]',
          "  empty: ${env:EMPTY}",
          "  ${env:KEYS}: keys are not interpolated"
        ]
      })
      const loaded = yield* loadConfig({
        files: ["conf.yaml"],
        env: { MLFLOW_URI: "sqlite:///x.db", EMPTY: "", USER_NAME: "ada", EPOCHS: "3", A: "a", KEYS: "no" },
        cwd
      })
      assert.deepStrictEqual(loaded.value, {
        mlflow_service: { tracking_uri: "sqlite:///x.db", experiment_name: "default-exp", artifact_root: "./mlruns" },
        job: {
          name: "ada-0/ada",
          literal: "${env:HOME} costs $$5 and ${x}",
          // A whole-value reference stays a string: strict decoding rejects "3" for a number, by design.
          epochs: "3",
          list: ["a", "plain", 3],
          empty: "",
          "${env:KEYS}": "keys are not interpolated"
        }
      })
    })
  )

  it.effect("interpolates after merging: extras are interpolated, and an overridden reference needs no variable", () =>
    Effect.gen(function* () {
      const cwd = workspace({ "conf.yaml": ["token: ${env:TOKEN}", "uri: ${env:URI:-none}"] })
      const loaded = yield* loadConfig({
        files: ["conf.yaml"],
        extras: ["token: literal", "uri: ${env:URI}"],
        env: { URI: "memory://", HOME: "/home/x" },
        cwd
      })
      assert.deepStrictEqual(loaded.value, { token: "literal", uri: "memory://" })
    })
  )

  it.effect("the process environment is the default", () =>
    Effect.gen(function* () {
      const name = "AUTOGEN_LOAD_TEST_VARIABLE"
      process.env[name] = "from-process"
      const loaded = yield* loadConfig({ files: [], extras: [`v: \${env:${name}}`] }).pipe(
        Effect.ensuring(Effect.sync(() => delete process.env[name]))
      )
      assert.deepStrictEqual(loaded.value, { v: "from-process" })
    })
  )

  it.effect("every unset variable is an issue at the file, line and column of the value that uses it", () =>
    Effect.gen(function* () {
      const cwd = workspace({
        "confs/train.yaml": [
          "job:",
          "  epochs: 3",
          "mlflow_service:",
          "  tracking_uri: ${env:MLFLOW_URI}",
          "  experiment_name: run-${env:RUN_ID}-${env:SET}-${env:MISSING:-x}"
        ]
      })
      const error = yield* Effect.flip(
        loadConfig({
          files: ["confs/train.yaml"],
          extras: ["paths: [ok, '${env:DATA_DIR}']"],
          env: { SET: "1" },
          cwd
        })
      )
      assert.strictEqual(error.source, "confs/train.yaml, --extra #1")
      assert.strictEqual(
        error.message,
        [
          "invalid configuration in confs/train.yaml, --extra #1:",
          "  - confs/train.yaml:4:3 mlflow_service.tracking_uri: environment variable MLFLOW_URI is not set (use ${env:MLFLOW_URI:-default} for a default)",
          "  - confs/train.yaml:5:3 mlflow_service.experiment_name: environment variable RUN_ID is not set (use ${env:RUN_ID:-default} for a default)",
          "  - --extra #1:1:13 paths[1]: environment variable DATA_DIR is not set (use ${env:DATA_DIR:-default} for a default)"
        ].join("\n")
      )
    })
  )

  it.effect("malformed references are errors rather than silently literal text", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        loadConfig({ files: [], extras: ["a: ${HOME}", "b: x${env:X", "c: ${env:A:-${env:B}}"], env: {} })
      )
      assert.deepStrictEqual(
        error.issues.map((issue) => [issue.source, issue.path, issue.message]),
        [
          [
            "--extra #1",
            "a",
            'unsupported interpolation "${HOME}": use ${env:NAME} or ${env:NAME:-default} (write $${ for a literal "${")'
          ],
          ["--extra #2", "b", 'unterminated "${" (write "$${" for a literal "${")'],
          ["--extra #3", "c", "nested interpolation is not supported in the default of ${env:A:-…}"]
        ]
      )
    })
  )
})

describe("decodeLoaded", () => {
  const Settings = Schema.Struct({
    job: Schema.Struct({
      KIND: Schema.Literal("TrainingJob"),
      name: Schema.String,
      epochs: Schema.Int,
      lr: Schema.Number,
      layers: Schema.Array(Schema.Int)
    })
  })

  const train = [
    "# training", //                    line 1
    "job:",
    "  KIND: TrainingJob",
    "  lr: 0.1",
    "  layers:", //                     line 5
    "    - 64",
    "    - 32",
    '  epochs: "1"',
    "  epoch: 3" //                     line 9
  ]

  it.effect("decodes a valid merged configuration into the schema's type", () =>
    Effect.gen(function* () {
      const cwd = workspace({ "train.yaml": train.filter((line) => !line.includes("epoch: 3")) })
      const loaded = yield* loadConfig({
        files: ["train.yaml"],
        extras: ["job: {epochs: 2, name: run}"],
        env: noEnv,
        cwd
      })
      const settings = yield* decodeLoaded(Settings, loaded)
      assert.deepStrictEqual(settings, {
        job: { KIND: "TrainingJob", name: "run", epochs: 2, lr: 0.1, layers: [64, 32] }
      })
    })
  )

  it.effect("a null override does not delete a key: the unknown key is still reported, at the override", () =>
    Effect.gen(function* () {
      const cwd = workspace({ "train.yaml": train })
      const loaded = yield* loadConfig({
        files: ["train.yaml"],
        extras: ["job: {epochs: 2, name: run}", "job: {epoch: null}"],
        env: noEnv,
        cwd
      })
      const error = yield* Effect.flip(decodeLoaded(Settings, loaded))
      assert.deepStrictEqual(error.issues, [
        { path: "job.epoch", message: "unknown key", source: "--extra #2", line: 1, column: 7 }
      ])
    })
  )

  it.effect("locates a wrong type, an unknown key and a missing key (at the mapping that lacks it)", () =>
    Effect.gen(function* () {
      const cwd = workspace({ "confs/train.yaml": train })
      const loaded = yield* loadConfig({ files: ["confs/train.yaml"], env: noEnv, cwd })
      const error = yield* Effect.flip(decodeLoaded(Settings, loaded))
      assert.instanceOf(error, ConfigError)
      assert.strictEqual(error.source, "confs/train.yaml")
      const byPath = new Map(error.issues.map((issue) => [issue.path, issue]))
      assert.deepStrictEqual(byPath.get("job.epochs"), {
        path: "job.epochs",
        message: 'Expected number, got "1"',
        source: "confs/train.yaml",
        line: 8,
        column: 3
      })
      assert.deepStrictEqual(byPath.get("job.epoch"), {
        path: "job.epoch",
        message: "unknown key",
        source: "confs/train.yaml",
        line: 9,
        column: 3
      })
      assert.deepStrictEqual(byPath.get("job.name"), {
        path: "job.name",
        message: "Missing key",
        source: "confs/train.yaml",
        line: 2,
        column: 1
      })
      assert.strictEqual(error.issues.length, 3)
      expect(error.message).toContain('\n  - confs/train.yaml:8:3 job.epochs: Expected number, got "1"')
      expect(error.message).toContain("\n  - confs/train.yaml:9:3 job.epoch: unknown key")
      expect(error.message).toContain("\n  - confs/train.yaml:2:1 job.name: Missing key")
    })
  )

  it.effect("a value an extra overrode is located in that extra; list items at the item", () =>
    Effect.gen(function* () {
      const cwd = workspace({ "base.yaml": train.filter((line) => !line.includes("epoch")), "more.yaml": ["x: 1"] })
      const loaded = yield* loadConfig({
        files: ["base.yaml", "more.yaml"],
        extras: ['job: {name: run, lr: "fast", epochs: 3}', "x: 2"],
        env: noEnv,
        cwd
      })
      const error = yield* Effect.flip(decodeLoaded(Schema.Struct({ job: Settings.fields.job, x: Schema.Int }), loaded))
      assert.deepStrictEqual(
        error.issues.map((issue) => [issue.path, issue.source, issue.line, issue.column]),
        [["job.lr", "--extra #1", 1, 18]]
      )
      assert.strictEqual(
        error.message,
        'invalid configuration in base.yaml, more.yaml, --extra #1, --extra #2:\n  - --extra #1:1:18 job.lr: Expected number, got "fast"'
      )
      const items = yield* loadConfig({
        files: ["base.yaml"],
        extras: ["job: {name: n, epochs: 1, layers: [1, 2.5]}"],
        env: noEnv,
        cwd
      })
      const itemError = yield* Effect.flip(decodeLoaded(Settings, items))
      assert.deepStrictEqual(
        itemError.issues.map((issue) => [issue.path, issue.source, issue.line, issue.column]),
        [["job.layers[1]", "--extra #1", 1, 39]]
      )
    })
  )
})
