import * as fs from "node:fs"
import * as path from "node:path"
import { PassThrough, Writable } from "node:stream"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import {
  type Alert,
  type AlertChannel,
  AlertError,
  AlertRecorder,
  Alerts,
  AlertsConfig,
  type AlertsConfig as AlertsConfigType,
  consoleChannel,
  consoleLine,
  defaultAlertsConfig,
  desktopChannel,
  desktopSupported
} from "../../src/services/alerts.js"
import { LogCapture, Logger } from "../../src/services/logger.js"
import { type ChildResult, runTsx } from "../fixtures/child.js"

// Child processes start when the module loads, so they run while the in-process tests run. Both run without
// DISPLAY / WAYLAND_DISPLAY (a headless machine): first an alert with enable: false, then one with enable: true.
const { DISPLAY: _display, WAYLAND_DISPLAY: _wayland, ...headlessEnv } = process.env
const alertRuns = [
  JSON.stringify({ enable: false, app_name: "trainer", title: "Epoch done", message: "loss=0.12" }),
  JSON.stringify({ enable: true, app_name: "tuner", title: "Best trial", message: "acc 0.93" })
]
const headlessChild: Promise<ChildResult> = runTsx("alerts-notify.ts", alertRuns, { env: headlessEnv })
headlessChild.catch(() => undefined)
// The same, with the reader of the child's stdout gone before anything is printed (as in `job | head`).
const brokenPipeChild: Promise<ChildResult> = runTsx("alerts-notify.ts", alertRuns, {
  env: headlessEnv,
  closeStdout: true
})
brokenPipeChild.catch(() => undefined)
const awaitChild = (promise: Promise<ChildResult>) => Effect.promise(() => promise)

const config = (overrides: Partial<AlertsConfigType> = {}): AlertsConfigType => ({
  ...defaultAlertsConfig,
  app_name: "unit",
  ...overrides
})

/** A channel that records what it received, in this array. */
const recording = (name: string, received: Array<Alert>): AlertChannel => ({
  name,
  send: (alert) => Effect.sync(() => void received.push(alert))
})

/** A PassThrough stream and a way to read everything written to it so far. */
const stream = () => {
  const out = new PassThrough()
  const chunks: Array<Buffer> = []
  out.on("data", (chunk: Buffer) => chunks.push(chunk))
  return { out, text: () => Buffer.concat(chunks).toString("utf8") }
}

/** Runs `notify(title, message)` through `Alerts.fromChannels`, with the test logger capturing warnings. */
const notifyWith = (channels: ReadonlyArray<AlertChannel>, overrides: Partial<AlertsConfigType> = {}) =>
  Effect.gen(function* () {
    yield* Alerts.use((alerts) => alerts.notify("Title", "Message")).pipe(
      Effect.provide(Alerts.fromChannels(config(overrides), channels)),
      Effect.provide(Logger.layerTest)
    )
    return yield* LogCapture.lines
  }).pipe(Effect.provide(LogCapture.layer))

const warnings = (lines: ReadonlyArray<{ readonly level: string; readonly message: string }>) =>
  lines.filter((line) => line.level === "WARN").map((line) => line.message)

describe("AlertsConfig", () => {
  it.effect("defaults: enabled, app_name autogen-team, 5 s timeout; rejects a non-positive timeout", () =>
    Effect.sync(() => {
      assert.deepStrictEqual({ ...defaultAlertsConfig }, { enable: true, app_name: "autogen-team", timeout: 5 })
      expect(() => Schema.decodeUnknownSync(AlertsConfig)({ timeout: 0 })).toThrow(/timeout/)
      expect(() => Schema.decodeUnknownSync(AlertsConfig)({ app_name: "" })).toThrow(/app_name/)
      expect(() => Schema.decodeUnknownSync(AlertsConfig)({ enable: "false" })).toThrow(/enable/)
    })
  )
})

describe("Alerts.layer (child process)", () => {
  it.effect(
    "enable: false prints exactly `[<app_name>] <title>: <message>` on stdout",
    () =>
      Effect.gen(function* () {
        const result = yield* awaitChild(headlessChild)
        assert.strictEqual(result.code, 0, result.stderr)
        assert.strictEqual(result.stdout.split("\n")[0], "[trainer] Epoch done: loss=0.12")
        expect(result.stderr).toContain('RESULT {"app_name":"trainer","channels":["console"],"done":true}')
      }),
    30_000
  )

  it.effect(
    "desktop on a headless machine (no DISPLAY) falls back to the console line; the job succeeds",
    () =>
      Effect.gen(function* () {
        const result = yield* awaitChild(headlessChild)
        assert.strictEqual(result.code, 0, result.stderr)
        // Nothing else reaches stdout: exactly the two alert lines.
        assert.strictEqual(result.stdout, "[trainer] Epoch done: loss=0.12\n[tuner] Best trial: acc 0.93\n")
        expect(result.stderr).toContain('RESULT {"app_name":"tuner","channels":["desktop"],"done":true}')
      }),
    30_000
  )

  it.effect(
    "when stdout's reader is gone (EPIPE), the process does not crash and both jobs succeed",
    () =>
      Effect.gen(function* () {
        const result = yield* awaitChild(brokenPipeChild)
        assert.strictEqual(result.code, 0, result.stderr)
        assert.notInclude(result.stderr, "Unhandled 'error' event")
        expect(result.stderr).toContain('RESULT {"app_name":"trainer","channels":["console"],"done":true}')
        expect(result.stderr).toContain('RESULT {"app_name":"tuner","channels":["desktop"],"done":true}')
      }),
    30_000
  )
})

describe("desktopSupported", () => {
  it.effect("macOS and Windows always can; Linux without DISPLAY / WAYLAND_DISPLAY cannot", () =>
    Effect.sync(() => {
      assert.isTrue(desktopSupported("darwin", {}))
      assert.isTrue(desktopSupported("win32", {}))
      assert.isFalse(desktopSupported("linux", {}))
      assert.isFalse(desktopSupported("linux", { DISPLAY: "" }))
      assert.isFalse(desktopSupported("freebsd", {}))
    })
  )

  it.effect("Linux with a display can exactly when notify-send is on the PATH", () =>
    Effect.sync(() => {
      const onPath = (process.env.PATH ?? "").split(path.delimiter).some((dir) => {
        try {
          fs.accessSync(path.join(dir, "notify-send"), fs.constants.X_OK)
          return true
        } catch {
          return false
        }
      })
      assert.strictEqual(desktopSupported("linux", { DISPLAY: ":0" }), onPath)
      assert.strictEqual(desktopSupported("linux", { WAYLAND_DISPLAY: "wayland-0" }), onPath)
    })
  )
})

describe("consoleChannel / desktopChannel", () => {
  it.effect("consoleChannel writes the console line to a real stream", () =>
    Effect.gen(function* () {
      const { out, text } = stream()
      const channel = consoleChannel(out)
      assert.strictEqual(channel.name, "console")
      yield* channel.send({ title: "Done", message: "all good", appName: "app", date: new Date() })
      yield* channel.send({ title: "Two", message: "lines: a=1", appName: "app", date: new Date() })
      assert.strictEqual(text(), "[app] Done: all good\n[app] Two: lines: a=1\n")
      assert.strictEqual(consoleLine({ title: "T", message: "M", appName: "A", date: new Date(0) }), "[A] T: M")
    })
  )

  it.effect("consoleChannel leaves no listener behind on the stream, however many alerts it sends", () =>
    Effect.gen(function* () {
      const { out, text } = stream()
      const before = out.listenerCount("error")
      const channel = consoleChannel(out)
      for (let i = 0; i < 50; i++) {
        yield* channel.send({ title: "n", message: String(i), appName: "app", date: new Date() })
        assert.strictEqual(out.listenerCount("error"), before)
      }
      assert.lengthOf(text().split("\n"), 51)
    })
  )

  it.effect("a stream that fails the write makes the console channel fail with AlertError, not crash", () =>
    Effect.gen(function* () {
      const broken = new Writable({
        write: (_chunk, _encoding, callback) => callback(new Error("EPIPE: broken pipe, write"))
      })
      const error = yield* Effect.flip(
        consoleChannel(broken).send({ title: "T", message: "M", appName: "app", date: new Date() })
      )
      assert.instanceOf(error, AlertError)
      assert.strictEqual(error.channel, "console")
      expect(error.reason).toContain("EPIPE")
      // Through the service it is a warning, and the next alert on a working channel still goes out.
      const ok: Array<Alert> = []
      const lines = yield* notifyWith([consoleChannel(broken), recording("ok", ok)])
      assert.lengthOf(ok, 1)
      const warned = warnings(lines)
      assert.lengthOf(warned, 1)
      expect(warned[0]).toMatch(/^alert channel console failed: .*(EPIPE|destroyed)/)
      // Let any late 'error' event fire inside this test, where an unhandled one would fail it.
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
    })
  )

  it.effect("desktopChannel falls back to the console line when the desktop is unsupported", () =>
    Effect.gen(function* () {
      const { out, text } = stream()
      const channel = desktopChannel(out, () => false)
      assert.strictEqual(channel.name, "desktop")
      yield* channel.send({ title: "Headless", message: "printed instead", appName: "app", date: new Date() })
      assert.strictEqual(text(), "[app] Headless: printed instead\n")
    })
  )

  it.effect("Alerts.layer channel follows `enable`", () =>
    Effect.gen(function* () {
      const names = (enable: boolean) =>
        Alerts.use((alerts) => Effect.succeed(alerts.channels)).pipe(
          Effect.provide(Alerts.layer(config({ enable }))),
          Effect.provide(Logger.layerTest),
          Effect.provide(LogCapture.layer)
        )
      assert.deepStrictEqual(yield* names(false), ["console"])
      assert.deepStrictEqual(yield* names(true), ["desktop"])
    })
  )
})

describe("Alerts.fromChannels", () => {
  it.effect("delivers the same alert to every channel, stamped with app_name", () =>
    Effect.gen(function* () {
      const a: Array<Alert> = []
      const b: Array<Alert> = []
      const lines = yield* notifyWith([recording("a", a), recording("b", b)], { app_name: "fan-out" })
      assert.lengthOf(a, 1)
      assert.lengthOf(b, 1)
      assert.strictEqual(a[0], b[0])
      assert.strictEqual(a[0]!.title, "Title")
      assert.strictEqual(a[0]!.message, "Message")
      assert.strictEqual(a[0]!.appName, "fan-out")
      assert.instanceOf(a[0]!.date, Date)
      assert.deepStrictEqual(warnings(lines), [])
    })
  )

  it.live("delivers to the channels concurrently, not one after the other", () =>
    Effect.gen(function* () {
      const delivered: Array<string> = []
      const slow = (name: string): AlertChannel => ({
        name,
        send: () => Effect.sleep("250 millis").pipe(Effect.andThen(Effect.sync(() => void delivered.push(name))))
      })
      const started = Date.now()
      yield* notifyWith([slow("one"), slow("two"), slow("three"), slow("four")], { timeout: 2 })
      const elapsed = Date.now() - started
      assert.sameMembers(delivered, ["one", "two", "three", "four"])
      // One after the other would take 1000 ms.
      expect(elapsed).toBeGreaterThanOrEqual(240)
      expect(elapsed).toBeLessThan(750)
    })
  )

  it.effect("a channel that fails logs a warning naming the channel; the others deliver and notify succeeds", () =>
    Effect.gen(function* () {
      const ok: Array<Alert> = []
      const failing: AlertChannel = {
        name: "webhook",
        send: () => Effect.fail(new AlertError({ channel: "webhook", reason: "HTTP 503" }))
      }
      const lines = yield* notifyWith([failing, recording("ok", ok)])
      assert.lengthOf(ok, 1)
      assert.deepStrictEqual(warnings(lines), ["alert channel webhook failed: HTTP 503"])
    })
  )

  it.effect("a channel that throws (a defect) is only a warning", () =>
    Effect.gen(function* () {
      const ok: Array<Alert> = []
      const throwing: AlertChannel = {
        name: "buggy",
        send: () =>
          Effect.sync(() => {
            throw new Error("kaboom")
          })
      }
      const lines = yield* notifyWith([throwing, recording("ok", ok)])
      assert.lengthOf(ok, 1)
      const warned = warnings(lines)
      assert.lengthOf(warned, 1)
      expect(warned[0]).toMatch(/^alert channel buggy crashed: .*kaboom/)
    })
  )

  it.live("a channel that hangs is abandoned after `timeout` seconds; the others still deliver", () =>
    Effect.gen(function* () {
      const ok: Array<Alert> = []
      const hanging: AlertChannel = { name: "hang", send: () => Effect.never }
      const started = Date.now()
      const lines = yield* notifyWith([hanging, recording("ok", ok)], { timeout: 0.2 })
      const elapsed = Date.now() - started
      assert.lengthOf(ok, 1)
      expect(elapsed).toBeGreaterThanOrEqual(190)
      expect(elapsed).toBeLessThan(1200)
      assert.deepStrictEqual(warnings(lines), ["alert channel hang failed: no answer within 0.2 s"])
    })
  )

  it.live("a hanging promise-based channel is abandoned too", () =>
    Effect.gen(function* () {
      const hanging: AlertChannel = {
        name: "promise",
        send: () => Effect.promise(() => new Promise<void>(() => {}))
      }
      const started = Date.now()
      const lines = yield* notifyWith([hanging], { timeout: 0.2 })
      expect(Date.now() - started).toBeLessThan(1200)
      assert.deepStrictEqual(warnings(lines), ["alert channel promise failed: no answer within 0.2 s"])
    })
  )

  it.live("a channel stuck in an uninterruptible region does not hold notify past `timeout`", () =>
    Effect.gen(function* () {
      const ok: Array<Alert> = []
      // E.g. a connection opened in an acquireRelease acquire step (uninterruptible) that never answers.
      const stuck: AlertChannel = {
        name: "stuck",
        send: () =>
          Effect.acquireRelease(Effect.sleep("3 seconds"), () => Effect.void).pipe(Effect.scoped, Effect.asVoid)
      }
      const started = Date.now()
      const lines = yield* notifyWith([stuck, recording("ok", ok)], { timeout: 0.2 })
      const elapsed = Date.now() - started
      assert.lengthOf(ok, 1)
      expect(elapsed).toBeLessThan(1200)
      assert.deepStrictEqual(warnings(lines), ["alert channel stuck failed: no answer within 0.2 s"])
    })
  )

  it.effect("what a channel logs while sending reaches the job's logger", () =>
    Effect.gen(function* () {
      const chatty: AlertChannel = {
        name: "chatty",
        send: (alert) => Effect.logInfo(`sending ${alert.title}`).pipe(Effect.annotateLogs({ channel: "chatty" }))
      }
      const lines = yield* notifyWith([chatty])
      const sent = lines.find((line) => line.message === "sending Title")
      assert.isDefined(sent)
      assert.deepStrictEqual(sent?.annotations, { channel: "chatty" })
    })
  )

  it.effect("writes [START] Alerts with app_name and channels, and [STOP] Alerts on release, at DEBUG", () =>
    Effect.gen(function* () {
      const lines = yield* notifyWith([recording("a", []), recording("b", [])], { app_name: "life" })
      const alertLines = lines.filter((line) => line.message.includes("Alerts"))
      assert.deepStrictEqual(
        alertLines.map((line) => [line.level, line.message]),
        [
          ["DEBUG", "[START] Alerts: app_name=life channels=a,b"],
          ["DEBUG", "[STOP] Alerts"]
        ]
      )
      const none = yield* notifyWith([])
      expect(none.map((line) => line.message)).toContain("[START] Alerts: app_name=unit channels=none")
    })
  )

  it.effect("exposes the channel names", () =>
    Effect.gen(function* () {
      const names = yield* Alerts.use((alerts) => Effect.succeed(alerts.channels)).pipe(
        Effect.provide(Alerts.fromChannels(config(), [recording("x", []), recording("y", [])])),
        Effect.provide(Logger.layerTest),
        Effect.provide(LogCapture.layer)
      )
      assert.deepStrictEqual(names, ["x", "y"])
    })
  )
})

describe("Alerts.layerTest + AlertRecorder", () => {
  it.effect("records every alert in order, with app_name `test`", () =>
    Effect.gen(function* () {
      yield* Effect.gen(function* () {
        const alerts = yield* Alerts
        yield* alerts.notify("first", "one")
        yield* alerts.notify("second", "two")
      }).pipe(Effect.provide(Alerts.layerTest))
      const recorded = yield* AlertRecorder.alerts
      assert.deepStrictEqual(
        recorded.map((alert) => [alert.appName, alert.title, alert.message]),
        [
          ["test", "first", "one"],
          ["test", "second", "two"]
        ]
      )
    }).pipe(Effect.provide(Layer.mergeAll(AlertRecorder.layer, Logger.layerTest.pipe(Layer.provide(LogCapture.layer)))))
  )

  it.effect("each AlertRecorder.layer starts empty", () =>
    Effect.gen(function* () {
      const recorded = yield* AlertRecorder.alerts
      assert.deepStrictEqual(recorded, [])
    }).pipe(Effect.provide(AlertRecorder.layer))
  )
})
