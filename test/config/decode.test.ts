import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { ConfigError, decodeConfig, formatPath, toConfigError } from "../../src/config/decode.js"
import { withDefault } from "../../src/internal/schema.js"

const Settings = Schema.Struct({
  name: Schema.String,
  epochs: Schema.Int,
  lr: Schema.Number.pipe(withDefault(0.01)),
  logger: Schema.Struct({
    level: Schema.Literals(["DEBUG", "INFO"]),
    sink: Schema.String.pipe(withDefault("stderr"))
  }),
  layers: Schema.Array(Schema.Struct({ units: Schema.Int }))
})
const decode = decodeConfig(Settings)

const valid = { name: "job", epochs: 3, logger: { level: "INFO" }, layers: [{ units: 64 }, { units: 32 }] }

describe("decodeConfig", () => {
  it.effect("decodes valid input and fills defaults", () =>
    Effect.gen(function* () {
      const settings = yield* decode(valid)
      assert.deepStrictEqual(settings, {
        name: "job",
        epochs: 3,
        lr: 0.01,
        logger: { level: "INFO", sink: "stderr" },
        layers: [{ units: 64 }, { units: 32 }]
      })
    })
  )

  it.effect("an unknown top-level key is a ConfigError naming it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decode({ ...valid, epoch: 3 }, "job.yaml"))
      assert.instanceOf(error, ConfigError)
      assert.strictEqual(error._tag, "ConfigError")
      assert.strictEqual(error.source, "job.yaml")
      assert.deepStrictEqual(error.issues, [{ path: "epoch", message: "unknown key" }])
    })
  )

  it.effect("an unknown nested key is reported with its dotted path, in a list with its index", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        decode({ ...valid, logger: { level: "INFO", colour: true }, layers: [{ units: 1 }, { units: 2, act: "relu" }] })
      )
      assert.deepStrictEqual(
        error.issues.map((issue) => issue.path),
        ["logger.colour", "layers[1].act"]
      )
      for (const issue of error.issues) assert.strictEqual(issue.message, "unknown key")
    })
  )

  it.effect('wrong types are rejected; nothing is coerced ("1" is not a number, 1.5 not an int)', () =>
    Effect.gen(function* () {
      const text = yield* Effect.flip(decode({ ...valid, epochs: "1" }))
      assert.deepStrictEqual(text.issues, [{ path: "epochs", message: 'Expected number, got "1"' }])
      const fraction = yield* Effect.flip(decode({ ...valid, epochs: 1.5 }))
      assert.deepStrictEqual(
        fraction.issues.map((issue) => issue.path),
        ["epochs"]
      )
      expect(fraction.issues[0]!.message).toMatch(/integer/)
      const numberForString = yield* Effect.flip(decode({ ...valid, name: 1 }))
      assert.deepStrictEqual(numberForString.issues, [{ path: "name", message: "Expected string, got 1" }])
      const boolForNumber = yield* Effect.flip(decode({ ...valid, lr: true }))
      assert.deepStrictEqual(
        boolForNumber.issues.map((issue) => issue.path),
        ["lr"]
      )
      const literal = yield* Effect.flip(decode({ ...valid, logger: { level: "debug" } }))
      assert.deepStrictEqual(
        literal.issues.map((issue) => issue.path),
        ["logger.level"]
      )
    })
  )

  it.effect("every issue is reported, not only the first", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        decode({
          name: 7,
          epochs: "3",
          logger: { level: "LOUD", extra: 1 },
          layers: [{ units: "64" }, { units: 2 }, {}],
          unknown: null
        })
      )
      assert.sameMembers(
        error.issues.map((issue) => issue.path),
        ["unknown", "name", "epochs", "logger.extra", "logger.level", "layers[0].units", "layers[2].units"]
      )
      assert.strictEqual(error.issues.find((issue) => issue.path === "layers[2].units")?.message, "Missing key")
    })
  )

  it.effect("missing keys and a non-object root are reported (root as `(root)` in the message)", () =>
    Effect.gen(function* () {
      const missing = yield* Effect.flip(decode({}))
      assert.deepStrictEqual(
        missing.issues.map((issue) => [issue.path, issue.message]),
        [
          ["name", "Missing key"],
          ["epochs", "Missing key"],
          ["logger", "Missing key"],
          ["layers", "Missing key"]
        ]
      )
      const root = yield* Effect.flip(decode(null, "conf.json"))
      assert.deepStrictEqual(root.issues, [{ path: "", message: "Expected object, got null" }])
      assert.strictEqual(root.message, "invalid configuration in conf.json:\n  - (root): Expected object, got null")
    })
  )

  it.effect("the message names the source and lists each issue with its path, one per line", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        decode({ ...valid, epochs: "1", logger: { level: "INFO", x: 1 } }, "conf/job.yaml")
      )
      assert.strictEqual(
        error.message,
        [
          "invalid configuration in conf/job.yaml:",
          '  - epochs: Expected number, got "1"',
          "  - logger.x: unknown key"
        ].join("\n")
      )
    })
  )

  it.effect("the source defaults to <input>", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decode({ ...valid, name: null }))
      assert.strictEqual(error.source, "<input>")
      expect(error.message).toMatch(/^invalid configuration in <input>:\n {2}- name: /)
    })
  )

  it.effect("works with Schema.Class schemas and is recoverable with catchTag", () =>
    Effect.gen(function* () {
      class Job extends Schema.Class<Job>("Job")({ epochs: Schema.Int.pipe(withDefault(1)) }) {}
      const job = yield* decodeConfig(Job)({})
      assert.instanceOf(job, Job)
      assert.strictEqual(job.epochs, 1)
      const recovered = yield* decodeConfig(Job)({ epochs: 2, extra: true }, "cli").pipe(
        Effect.catchTag("ConfigError", (error) => Effect.succeed(error.issues.map((issue) => issue.path)))
      )
      assert.deepStrictEqual(recovered, ["extra"])
    })
  )
})

describe("formatPath", () => {
  it.effect("joins keys with dots and numbers as [i], accepting { key } segments", () =>
    Effect.sync(() => {
      assert.strictEqual(formatPath([]), "")
      assert.strictEqual(formatPath(["job"]), "job")
      assert.strictEqual(formatPath(["job", "logger_service", "level"]), "job.logger_service.level")
      assert.strictEqual(formatPath(["items", 2]), "items[2]")
      assert.strictEqual(formatPath(["items", 2, "name"]), "items[2].name")
      assert.strictEqual(formatPath(["grid", 0, 1]), "grid[0][1]")
      assert.strictEqual(formatPath([{ key: "a" }, { key: 3 }, { key: "b" }]), "a[3].b")
      assert.strictEqual(formatPath([0, "x"]), "[0].x")
      assert.strictEqual(formatPath([Symbol.for("s"), "x"]), "Symbol(s).x")
    })
  )
})

describe("toConfigError", () => {
  it.effect("turns a SchemaError into a ConfigError with formatted paths", () =>
    Effect.gen(function* () {
      const schemaError = yield* Effect.flip(
        Schema.decodeUnknownEffect(Settings)({ ...valid, layers: [{ units: "x" }] }, { errors: "all" })
      )
      const error = toConfigError("here", schemaError)
      assert.strictEqual(error.source, "here")
      assert.deepStrictEqual(error.issues, [{ path: "layers[0].units", message: "Expected number" }])
    })
  )
})

describe("located issues", () => {
  it.effect("an issue with a location renders as `source:line:column path: message`", () =>
    Effect.sync(() => {
      const error = new ConfigError({
        source: "a.yaml, b.yaml",
        issues: [
          { path: "job.epochs", message: 'Expected number, got "1"', source: "a.yaml", line: 12, column: 5 },
          { path: "job", message: "Missing key", source: "b.yaml", line: 3 },
          { path: "job.lr", message: "unknown key", source: "--extra #1" },
          { path: "", message: "file not found", source: "c.yaml" },
          { path: "", message: "Map keys must be unique", source: "d.yaml", line: 2, column: 1 },
          { path: "name", message: "Missing key" }
        ]
      })
      assert.strictEqual(
        error.message,
        [
          "invalid configuration in a.yaml, b.yaml:",
          '  - a.yaml:12:5 job.epochs: Expected number, got "1"',
          "  - b.yaml:3 job: Missing key",
          "  - --extra #1 job.lr: unknown key",
          "  - c.yaml: file not found",
          "  - d.yaml:2:1: Map keys must be unique",
          "  - name: Missing key"
        ].join("\n")
      )
    })
  )

  it.effect("decodeConfig and toConfigError annotate each issue with the location of its raw path", () =>
    Effect.gen(function* () {
      const seen: Array<ReadonlyArray<PropertyKey>> = []
      const locate = (path: ReadonlyArray<PropertyKey>) => {
        seen.push(path)
        return path[0] === "layers" ? { source: "conf.yaml", line: 7, column: 3 } : undefined
      }
      const error = yield* Effect.flip(decode({ ...valid, epochs: "1", layers: [{ units: "x" }] }, "conf.yaml", locate))
      assert.deepStrictEqual(error.issues, [
        { path: "epochs", message: 'Expected number, got "1"' },
        { path: "layers[0].units", message: 'Expected number, got "x"', source: "conf.yaml", line: 7, column: 3 }
      ])
      // locate sees the raw path: a list index stays a number
      assert.deepStrictEqual(seen, [["epochs"], ["layers", 0, "units"]])

      const schemaError = yield* Effect.flip(Schema.decodeUnknownEffect(Settings)({ ...valid, name: 1 }))
      const located = toConfigError("x", schemaError, () => ({ source: "x", line: 1, column: 2 }))
      assert.deepStrictEqual(located.issues, [
        { path: "name", message: "Expected string", source: "x", line: 1, column: 2 }
      ])
    })
  )
})
