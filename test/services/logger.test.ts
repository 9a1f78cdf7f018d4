import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { afterAll } from "vitest"
import { ServiceStartError } from "../../src/services/errors.js"
import {
  defaultLoggerConfig,
  LogCapture,
  Logger,
  LoggerConfig,
  type LoggerConfig as LoggerConfigType,
  messageText
} from "../../src/services/logger.js"
import { type ChildResult, fixture, runCommand, runTsx } from "../fixtures/child.js"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "autogen-logger-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
let counter = 0
const freshPath = (...parts: ReadonlyArray<string>): string => path.join(root, `case-${++counter}`, ...parts)

const config = (overrides: Partial<LoggerConfigType>): LoggerConfigType => ({ ...defaultLoggerConfig, ...overrides })
const readLines = (file: string): Array<string> => fs.readFileSync(file, "utf8").split("\n").slice(0, -1)
/** Start of an ANSI escape sequence (colour codes). */
const ESC = "\u001b["

// The same small "job" every format test logs.
const sample = Effect.gen(function* () {
  yield* Effect.logDebug("debug line")
  yield* Effect.logInfo("hello", { x: 1 }, 3).pipe(Effect.annotateLogs({ k: "v", n: 2 }))
  yield* Effect.logWarning("careful")
  yield* Effect.logError("bad").pipe(Effect.annotateLogs({ stage: "eval" }))
})

/** Runs `sample` with a file-sink logger in `format` and returns the written lines. */
const logToFile = (format: LoggerConfigType["format"], level: LoggerConfigType["level"] = "DEBUG") =>
  Effect.gen(function* () {
    const file = freshPath("job.log")
    yield* sample.pipe(Effect.provide(Logger.layer(config({ sink: file, format, level }))))
    return { file, lines: readLines(file) }
  })

// Child processes start when the module loads, so they run while the in-process tests run. The fixture runs
// one logger per argument, one after the other: here stdout pretty, stderr pretty, then stdout json at INFO.
const pipes: Promise<ChildResult> = runTsx("logger-sink.ts", [
  "stdout:pretty:DEBUG:true",
  "stderr:pretty:DEBUG:true",
  "stdout:json:INFO:true"
])
pipes.catch(() => undefined)
// The reader of the child's stdout is gone before the child logs (as in `job | head`).
const brokenPipe: Promise<ChildResult> = runTsx("logger-sink.ts", ["stdout:pretty:DEBUG:true"], { closeStdout: true })
brokenPipe.catch(() => undefined)
const hasScript = spawnSync("script", ["--version"], { stdio: "ignore" }).status === 0
// `script` gives the child a pseudo-terminal, the one place where colour is allowed: colorize on, then off.
const tty: Promise<ChildResult> | undefined = hasScript
  ? runCommand("script", [
      "-qec",
      [
        process.execPath,
        "--import",
        "tsx",
        fixture("logger-sink.ts"),
        "stdout:pretty:DEBUG:true",
        "stdout:pretty:DEBUG:false"
      ]
        .map((part) => `'${part}'`)
        .join(" "),
      "/dev/null"
    ])
  : undefined
tty?.catch(() => undefined)
const awaitChild = (promise: Promise<ChildResult>) => Effect.promise(() => promise)
const outputLines = (text: string): Array<string> => text.split(/\r?\n/).slice(0, -1)

describe("LoggerConfig", () => {
  it.effect("defaults to stderr, DEBUG, pretty, colorize", () =>
    Effect.sync(() => {
      assert.deepStrictEqual(
        { ...defaultLoggerConfig },
        { sink: "stderr", level: "DEBUG", format: "pretty", colorize: true }
      )
      assert.deepStrictEqual(
        { ...Schema.decodeUnknownSync(LoggerConfig)({ level: "WARN", format: "json" }) },
        { sink: "stderr", level: "WARN", format: "json", colorize: true }
      )
    })
  )

  it.effect("rejects unknown levels and formats and an empty sink", () =>
    Effect.sync(() => {
      expect(() => Schema.decodeUnknownSync(LoggerConfig)({ level: "VERBOSE" })).toThrow(/level/)
      expect(() => Schema.decodeUnknownSync(LoggerConfig)({ format: "xml" })).toThrow(/format/)
      expect(() => Schema.decodeUnknownSync(LoggerConfig)({ sink: "" })).toThrow(/sink/)
    })
  )
})

describe("Logger.layer formats", () => {
  it.effect("pretty: timestamp | LEVEL | message with inspected parts and annotations, no colour in a file", () =>
    Effect.gen(function* () {
      const { file, lines } = yield* logToFile("pretty")
      assert.lengthOf(lines, 6)
      for (const line of lines) {
        expect(line).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z \| (DEBUG|INFO |WARN |ERROR) \| /)
        expect(line).not.toContain(ESC)
      }
      expect(lines[0]).toMatch(
        new RegExp(
          `\\| DEBUG \\| \\[START\\] Logger: sink=${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} level=DEBUG format=pretty$`
        )
      )
      expect(lines[1]).toMatch(/ \| DEBUG \| debug line$/)
      expect(lines[2]).toMatch(/ \| INFO {2}\| hello \{ x: 1 \} 3 k=v n=2$/)
      expect(lines[3]).toMatch(/ \| WARN {2}\| careful$/)
      expect(lines[4]).toMatch(/ \| ERROR \| bad stage=eval$/)
      expect(lines[5]).toMatch(/ \| DEBUG \| \[STOP\] Logger$/)
    })
  )

  it.effect("pretty: a logged Cause is rendered after the message", () =>
    Effect.gen(function* () {
      const file = freshPath("cause.log")
      yield* Effect.logError("step failed", Cause.fail(new Error("disk full"))).pipe(
        Effect.provide(Logger.layer(config({ sink: file })))
      )
      const text = fs.readFileSync(file, "utf8")
      expect(text).toMatch(/\| ERROR \| step failed\n/)
      expect(text).toContain("disk full")
    })
  )

  it.effect("logfmt: key=value pairs with level, message and annotations", () =>
    Effect.gen(function* () {
      const { lines } = yield* logToFile("logfmt")
      assert.lengthOf(lines, 6)
      expect(lines[0]).toContain("level=DEBUG")
      expect(lines[0]).toContain('message="[START] Logger: sink=')
      const info = lines[2]!
      expect(info).toMatch(/^timestamp=\S+ level=INFO /)
      expect(info).toContain("message=hello")
      expect(info).toContain(" k=v")
      expect(info).toContain(" n=2")
      expect(lines[4]).toMatch(/level=ERROR .*message=bad .*stage=eval/)
      expect(lines[5]).toContain('message="[STOP] Logger"')
    })
  )

  it.effect("json: one parseable object per line with level, message and annotations", () =>
    Effect.gen(function* () {
      const { lines } = yield* logToFile("json")
      assert.lengthOf(lines, 6)
      const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
      assert.deepStrictEqual(
        records.map((record) => record.level),
        ["DEBUG", "DEBUG", "INFO", "WARN", "ERROR", "DEBUG"]
      )
      const info = records[2]!
      assert.deepStrictEqual(info.message, ["hello", { x: 1 }, 3])
      assert.deepStrictEqual(info.annotations, { k: "v", n: 2 })
      assert.isFalse(Number.isNaN(Date.parse(String(info.timestamp))))
      assert.strictEqual(records[1]!.message, "debug line")
      assert.deepStrictEqual(records[4]!.annotations, { stage: "eval" })
      expect(String(records[0]!.message)).toMatch(/^\[START\] Logger: .* format=json$/)
      assert.strictEqual(records[5]!.message, "[STOP] Logger")
    })
  )
})

describe("Logger.layer level filtering", () => {
  it.effect("INFO drops DEBUG lines, including the DEBUG [START]/[STOP] lines", () =>
    Effect.gen(function* () {
      const { lines } = yield* logToFile("pretty", "INFO")
      assert.lengthOf(lines, 3)
      expect(lines[0]).toMatch(/\| INFO {2}\| hello/)
      expect(lines[1]).toMatch(/\| WARN {2}\| careful/)
      expect(lines[2]).toMatch(/\| ERROR \| bad/)
      expect(lines.join("\n")).not.toContain("DEBUG")
    })
  )

  it.effect("WARN drops INFO; ERROR keeps only errors", () =>
    Effect.gen(function* () {
      const warn = yield* logToFile("pretty", "WARN")
      assert.lengthOf(warn.lines, 2)
      expect(warn.lines.join("\n")).not.toContain("hello")
      const error = yield* logToFile("pretty", "ERROR")
      assert.lengthOf(error.lines, 1)
      expect(error.lines[0]).toMatch(/\| ERROR \| bad/)
    })
  )

  it.effect("TRACE keeps trace lines that DEBUG drops", () =>
    Effect.gen(function* () {
      const traceFile = freshPath("trace.log")
      const debugFile = freshPath("debug.log")
      yield* Effect.logTrace("fine detail").pipe(
        Effect.provide(Logger.layer(config({ sink: traceFile, level: "TRACE" })))
      )
      yield* Effect.logTrace("fine detail").pipe(
        Effect.provide(Logger.layer(config({ sink: debugFile, level: "DEBUG" })))
      )
      expect(fs.readFileSync(traceFile, "utf8")).toMatch(/\| TRACE \| fine detail/)
      expect(fs.readFileSync(debugFile, "utf8")).not.toContain("fine detail")
    })
  )
})

describe("Logger.layer file sink", () => {
  it.effect("creates missing parent directories and reports the file on the service", () =>
    Effect.gen(function* () {
      const file = freshPath("deep", "er", "logs", "job.log")
      assert.isFalse(fs.existsSync(path.dirname(file)))
      const reported = yield* Logger.use((logger) => Effect.succeed(logger.file)).pipe(
        Effect.provide(Logger.layer(config({ sink: file })))
      )
      assert.strictEqual(reported, file)
      assert.isTrue(fs.statSync(file).isFile())
      expect(readLines(file)[0]).toContain("[START] Logger")
    })
  )

  it.effect("appends to an existing file without truncating it", () =>
    Effect.gen(function* () {
      const file = freshPath("existing.log")
      fs.mkdirSync(path.dirname(file), { recursive: true })
      fs.writeFileSync(file, "line from an earlier run\n")
      yield* Effect.logInfo("second run").pipe(Effect.provide(Logger.layer(config({ sink: file }))))
      yield* Effect.logInfo("third run").pipe(Effect.provide(Logger.layer(config({ sink: file }))))
      const lines = readLines(file)
      assert.strictEqual(lines[0], "line from an earlier run")
      assert.lengthOf(lines, 1 + 3 + 3)
      expect(lines[2]).toContain("second run")
      expect(lines[5]).toContain("third run")
    })
  )

  it.effect("[START] Logger is the first line and [STOP] Logger the last, around the job's lines", () =>
    Effect.gen(function* () {
      const file = freshPath("order.log")
      yield* Effect.gen(function* () {
        for (let i = 0; i < 20; i++) yield* Effect.logInfo(`line ${i}`)
      }).pipe(Effect.provide(Logger.layer(config({ sink: file }))))
      const lines = readLines(file)
      assert.lengthOf(lines, 22)
      expect(lines[0]).toMatch(/\| DEBUG \| \[START\] Logger: sink=.* level=DEBUG format=pretty$/)
      expect(lines.at(-1)).toMatch(/\| DEBUG \| \[STOP\] Logger$/)
      assert.deepStrictEqual(
        lines.slice(1, -1).map((line) => line.split(" | ")[2]),
        Array.from({ length: 20 }, (_, i) => `line ${i}`)
      )
    })
  )

  it.effect("when the job fails or dies, its error propagates and [STOP] Logger is still the last line", () =>
    Effect.gen(function* () {
      const failedFile = freshPath("failed.log")
      const error = yield* Effect.flip(
        Effect.logInfo("about to fail").pipe(
          Effect.andThen(Effect.fail("job failed")),
          Effect.provide(Logger.layer(config({ sink: failedFile })))
        )
      )
      assert.strictEqual(error, "job failed")
      expect(readLines(failedFile).at(-1)).toMatch(/\[STOP\] Logger$/)
      const diedFile = freshPath("died.log")
      const exit = yield* Effect.exit(
        Effect.die(new Error("bug")).pipe(Effect.provide(Logger.layer(config({ sink: diedFile }))))
      )
      assert.isTrue(Exit.hasDies(exit))
      expect(readLines(diedFile).at(-1)).toMatch(/\[STOP\] Logger$/)
    })
  )

  it.effect("options left out take their defaults (pretty, DEBUG)", () =>
    Effect.gen(function* () {
      const file = freshPath("partial.log")
      const handle = yield* Logger.pipe(Effect.provide(Logger.layer({ sink: file })))
      assert.deepStrictEqual({ ...handle.config }, { ...defaultLoggerConfig, sink: file })
      expect(readLines(file)[0]).toMatch(/\| DEBUG \| \[START\] Logger: sink=.* level=DEBUG format=pretty$/)
    })
  )

  it.effect("the file is closed when the layer is released and later log calls never reach it", () =>
    Effect.gen(function* () {
      const file = freshPath("closed.log")
      const openFds = (): number => {
        if (!fs.existsSync("/proc/self/fd")) return -1
        return fs.readdirSync("/proc/self/fd").filter((fd) => {
          try {
            return fs.readlinkSync(`/proc/self/fd/${fd}`) === file
          } catch {
            return false
          }
        }).length
      }
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Logger.layer(config({ sink: file })), scope)
      yield* Effect.logInfo("while open").pipe(Effect.provide(context))
      if (openFds() !== -1) assert.strictEqual(openFds(), 1)
      yield* Scope.close(scope, Exit.void)
      if (openFds() !== -1) assert.strictEqual(openFds(), 0)
      const afterClose = fs.readFileSync(file, "utf8")
      // The context still names the released logger; its sink must not write any more.
      yield* Effect.logInfo("after close").pipe(Effect.provide(context))
      assert.strictEqual(fs.readFileSync(file, "utf8"), afterClose)
      const lines = readLines(file)
      assert.lengthOf(lines, 3)
      expect(lines[1]).toContain("while open")
      expect(lines[2]).toMatch(/\[STOP\] Logger$/)
    })
  )

  it.effect("two loggers in two concurrent fibers write to their own files only", () =>
    Effect.gen(function* () {
      const a = freshPath("a.log")
      const b = freshPath("b.log")
      const job = (name: string, file: string) =>
        Effect.gen(function* () {
          for (let i = 0; i < 10; i++) {
            yield* Effect.logInfo(`${name} ${i}`)
            yield* Effect.yieldNow
          }
        }).pipe(Effect.provide(Logger.layer(config({ sink: file }))))
      yield* Effect.all([job("alpha", a), job("beta", b)], { concurrency: 2 })
      const linesA = readLines(a)
      const linesB = readLines(b)
      assert.lengthOf(linesA, 12)
      assert.lengthOf(linesB, 12)
      expect(linesA.join("\n")).not.toContain("beta")
      expect(linesB.join("\n")).not.toContain("alpha")
      expect(linesA.at(-1)).toContain("[STOP] Logger")
      expect(linesB.at(-1)).toContain("[STOP] Logger")
    })
  )

  it.effect("a sink path under a regular file fails with ServiceStartError naming the path", () =>
    Effect.gen(function* () {
      const blocker = freshPath("not-a-dir")
      fs.mkdirSync(path.dirname(blocker), { recursive: true })
      fs.writeFileSync(blocker, "plain file\n")
      const sink = path.join(blocker, "logs", "job.log")
      const error = yield* Effect.flip(Effect.logInfo("never").pipe(Effect.provide(Logger.layer(config({ sink })))))
      assert.instanceOf(error, ServiceStartError)
      assert.strictEqual(error._tag, "ServiceStartError")
      assert.strictEqual(error.service, "Logger")
      expect(error.message).toMatch(/^Logger service could not start: /)
      expect(error.message).toContain(JSON.stringify(sink))
      assert.isDefined(error.cause)
      assert.strictEqual(fs.readFileSync(blocker, "utf8"), "plain file\n")
    })
  )

  it.effect("a directory as sink fails with ServiceStartError, and catchTag recovers from it", () =>
    Effect.gen(function* () {
      const dir = freshPath("a-directory")
      fs.mkdirSync(dir, { recursive: true })
      const recovered = yield* Effect.logInfo("never").pipe(
        Effect.as("ran"),
        Effect.provide(Logger.layer(config({ sink: dir }))),
        Effect.catchTag("ServiceStartError", (error) => Effect.succeed(error.message))
      )
      expect(recovered).toContain(JSON.stringify(dir))
      assert.deepStrictEqual(fs.readdirSync(dir), [])
    })
  )
})

describe("Logger.layer stdout / stderr sinks (child process)", () => {
  it.effect(
    "stdout sink writes every line to the child's stdout, stderr sink to its stderr, nothing crosses",
    () =>
      Effect.gen(function* () {
        const result = yield* awaitChild(pipes)
        assert.strictEqual(result.code, 0, result.stderr)
        const out = outputLines(result.stdout)
        assert.lengthOf(out, 5 + 2)
        expect(out[0]).toMatch(/^\S+Z \| DEBUG \| \[START\] Logger: sink=stdout level=DEBUG format=pretty$/)
        expect(out[1]).toMatch(/\| DEBUG \| fixture debug$/)
        expect(out[2]).toMatch(/\| INFO {2}\| fixture info \{ epoch: 1 \} job=fixture$/)
        expect(out[3]).toMatch(/\| WARN {2}\| fixture warn$/)
        expect(out[4]).toMatch(/\| DEBUG \| \[STOP\] Logger$/)
        const err = outputLines(result.stderr)
        assert.lengthOf(err, 5)
        expect(err[0]).toMatch(/\| DEBUG \| \[START\] Logger: sink=stderr level=DEBUG format=pretty$/)
        expect(err[2]).toMatch(/\| INFO {2}\| fixture info \{ epoch: 1 \} job=fixture$/)
        expect(err[4]).toMatch(/\| DEBUG \| \[STOP\] Logger$/)
      }),
    30_000
  )

  it.effect(
    "colorize is ignored when the sink is a pipe: no ANSI escapes",
    () =>
      Effect.gen(function* () {
        const result = yield* awaitChild(pipes)
        expect(result.stdout).toContain("fixture info")
        expect(result.stdout).not.toContain(ESC)
        expect(result.stderr).toContain("fixture info")
        expect(result.stderr).not.toContain(ESC)
      }),
    30_000
  )

  it.effect(
    "json on stdout at INFO: parseable lines with level, message, annotations; DEBUG dropped",
    () =>
      Effect.gen(function* () {
        const result = yield* awaitChild(pipes)
        const records = outputLines(result.stdout)
          .slice(5)
          .map((line) => JSON.parse(line) as Record<string, unknown>)
        assert.deepStrictEqual(
          records.map((record) => [record.level, record.message]),
          [
            ["INFO", ["fixture info", { epoch: 1 }]],
            ["WARN", "fixture warn"]
          ]
        )
        assert.deepStrictEqual(records[0]!.annotations, { job: "fixture" })
      }),
    30_000
  )

  it.effect(
    "a stdout whose reader has gone (EPIPE) does not fail the job",
    () =>
      Effect.gen(function* () {
        const result = yield* awaitChild(brokenPipe)
        assert.strictEqual(result.stderr, "")
        assert.strictEqual(result.code, 0)
      }),
    30_000
  )

  it.effect.skipIf(!hasScript)(
    "on a terminal (pty via `script`), colorize colours the level; false does not",
    () =>
      Effect.gen(function* () {
        const result = yield* awaitChild(tty!)
        assert.strictEqual(result.code, 0, result.stderr)
        const lines = outputLines(result.stdout)
        assert.lengthOf(lines, 10)
        const colored = lines.slice(0, 5).join("\n")
        expect(colored).toContain(`${ESC}36mDEBUG${ESC}0m | [START] Logger`)
        expect(colored).toContain(`${ESC}32mINFO ${ESC}0m | fixture info`)
        expect(colored).toContain(`${ESC}33mWARN ${ESC}0m | fixture warn`)
        const plain = lines.slice(5).join("\n")
        expect(plain).toContain("| INFO  | fixture info")
        expect(plain).not.toContain(ESC)
      }),
    30_000
  )
})

describe("Logger.layerTest + LogCapture", () => {
  it.effect("captures every level (TRACE included) with messages and annotations, START/STOP around", () =>
    Effect.gen(function* () {
      const handle = yield* Effect.gen(function* () {
        yield* Effect.logTrace("t")
        yield* Effect.logDebug("d")
        yield* Effect.logInfo("epoch", 3, { loss: 0.5 }).pipe(Effect.annotateLogs({ run: "r1", step: 3 }))
        yield* Effect.logWarning("w")
        yield* Effect.logError("e")
        yield* Effect.logFatal("f")
        return yield* Logger
      }).pipe(Effect.provide(Logger.layerTest))
      assert.strictEqual(handle.file, undefined)
      assert.strictEqual(handle.config.sink, "memory")
      const lines = yield* LogCapture.lines
      assert.deepStrictEqual(
        lines.map((line) => [line.level, line.message]),
        [
          ["DEBUG", "[START] Logger: sink=memory level=TRACE"],
          ["TRACE", "t"],
          ["DEBUG", "d"],
          ["INFO", "epoch 3 { loss: 0.5 }"],
          ["WARN", "w"],
          ["ERROR", "e"],
          ["FATAL", "f"],
          ["DEBUG", "[STOP] Logger"]
        ]
      )
      assert.deepStrictEqual(lines[3]!.annotations, { run: "r1", step: 3 })
      assert.deepStrictEqual(lines[1]!.annotations, {})
      assert.instanceOf(lines[3]!.date, Date)
    }).pipe(Effect.provide(LogCapture.layer))
  )

  it.effect("each LogCapture.layer is a fresh, separate capture", () =>
    Effect.gen(function* () {
      const capture = (message: string) =>
        Effect.gen(function* () {
          yield* Effect.logInfo(message).pipe(Effect.provide(Logger.layerTest))
          return (yield* LogCapture.lines).map((line) => line.message)
        }).pipe(Effect.provide(LogCapture.layer))
      const [first, second] = yield* Effect.all([capture("one"), capture("two")], { concurrency: 2 })
      expect(first).toContain("one")
      expect(first).not.toContain("two")
      expect(second).toContain("two")
      expect(second).not.toContain("one")
    })
  )
})

describe("messageText", () => {
  it.effect("renders strings as-is and other parts with inspect, joined by spaces on one line", () =>
    Effect.sync(() => {
      assert.strictEqual(messageText("plain"), "plain")
      assert.strictEqual(messageText(["a", "b c"]), "a b c")
      assert.strictEqual(messageText(["n =", 42, true, null, undefined]), "n = 42 true null undefined")
      assert.strictEqual(messageText(["cfg", { lr: 0.1, layers: [64, 32] }]), "cfg { lr: 0.1, layers: [ 64, 32 ] }")
      assert.strictEqual(messageText([["nested", "strings"]]), "[ 'nested', 'strings' ]")
      assert.strictEqual(messageText([]), "")
      assert.strictEqual(messageText(7), "7")
      const wide = messageText([{ values: Array.from({ length: 50 }, (_, i) => i) }])
      assert.notInclude(wide, "\n")
      expect(wide).toContain("49")
      assert.strictEqual(
        messageText([{ a: { b: { c: { d: { e: { f: 1 } } } } } }]),
        "{ a: { b: { c: { d: { e: [Object] } } } } }"
      )
    })
  )
})
