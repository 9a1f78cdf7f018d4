import * as fs from "node:fs"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { PassThrough, Writable } from "node:stream"
import { inspect } from "node:util"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { ConfigError, decodeConfig } from "../../src/config/decode.js"
import {
  type Alert,
  type AlertChannel,
  type AlertDetails,
  AlertError,
  AlertRecorder,
  Alerts,
  AlertsConfig,
  type AlertsConfig as AlertsConfigType,
  channelNames,
  consoleChannel,
  consoleLine,
  defaultAlertsConfig,
  desktopChannel,
  desktopSupported,
  httpChannel
} from "../../src/services/alerts.js"
import { LogCapture, Logger } from "../../src/services/logger.js"
import { webhookPayloads } from "../../src/services/webhooks.js"
import { type ChildResult, runTsx } from "../fixtures/child.js"
import { type ReceivedRequest, type WebhookServer, webhookServer } from "../fixtures/webhook-server.js"
import { freePort } from "../harness/net.js"

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
  it.effect(
    "defaults: enabled, app_name autogen-team, 5 s timeout, no success alerts, desktop; rejects a non-positive timeout",
    () =>
      Effect.sync(() => {
        assert.deepStrictEqual(
          { ...defaultAlertsConfig },
          { enable: true, app_name: "autogen-team", timeout: 5, on_success: false, channels: [{ type: "desktop" }] }
        )
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

/** Decodes an `alerts_service` config strictly, as job configs are. */
const decodeAlerts = (input: unknown) => decodeConfig(AlertsConfig)(input, "conf.yaml")

const issuesOf = (input: unknown) =>
  Effect.map(Effect.flip(decodeAlerts(input)), (error) => {
    assert.instanceOf(error, ConfigError)
    return error.issues.map((issue) => `${issue.path}: ${issue.message}`)
  })

describe("AlertsConfig channels", () => {
  it.effect("decodes every channel type; URLs and header values become Redacted", () =>
    Effect.gen(function* () {
      const config = yield* decodeAlerts({
        on_success: true,
        channels: [
          { type: "console" },
          { type: "desktop", name: "laptop" },
          { type: "slack", url: "https://hooks.slack.com/services/T0/B0/s3cr3t-slack" },
          { type: "discord", url: "https://discord.com/api/webhooks/1/s3cr3t-discord" },
          { type: "teams", url: "https://prod.westeurope.logic.azure.com/workflows/x?sig=s3cr3t-teams" },
          { type: "webhook", url: "http://127.0.0.1:9/hook", headers: { Authorization: "Bearer s3cr3t-header" } }
        ]
      })
      assert.isTrue(config.on_success)
      assert.deepStrictEqual(
        config.channels.map((channel) => channel.type),
        ["console", "desktop", "slack", "discord", "teams", "webhook"]
      )
      const webhook = config.channels[5]
      assert(webhook?.type === "webhook")
      assert.isTrue(Redacted.isRedacted(webhook.url))
      assert.strictEqual(Redacted.value(webhook.url), "http://127.0.0.1:9/hook")
      assert.strictEqual(Redacted.value(webhook.headers!.Authorization!), "Bearer s3cr3t-header")
      // Printing the config (as a log line, an error or a debugger would) shows no secret.
      const shown = `${String(config.channels)} ${JSON.stringify(config)} ${inspect(config, { depth: 10 })}`
      expect(shown).not.toMatch(/s3cr3t/)
    })
  )

  it.effect("rejects bad channels with the config path, never quoting a URL or header value", () =>
    Effect.gen(function* () {
      const secret = "s3cr3t-value-in-the-url"
      const issues = yield* issuesOf({
        channels: [
          { type: "slak", url: `https://hooks.slack.com/${secret}` },
          { type: "console", url: `https://example.com/${secret}` },
          { type: "discord" },
          { type: "teams", url: `not a url ${secret}` },
          { type: "webhook", url: `ftp://example.com/${secret}` },
          { type: "webhook", url: `https://user:${secret}@example.com/hook` },
          { type: "webhook", url: "https://example.com/hook", headers: { "Bad Header": "x" } },
          { type: "webhook", url: "https://example.com/hook", headers: { "X-Token": `${secret}\r\nInjected: 1` } },
          { type: "slack", url: 12345 }
        ]
      })
      const text = issues.join("\n")
      expect(text).not.toContain(secret)
      expect(text).not.toContain("12345")
      expect(issues).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^channels\[0\]: must be a channel: \{ type: console \| desktop \| slack/),
          "channels[1].url: unknown key",
          expect.stringMatching(/^channels\[2\]\.url: Missing key/),
          expect.stringMatching(/^channels\[3\]\.url: must be an absolute http:\/\/ or https:\/\/ URL/),
          expect.stringMatching(/^channels\[4\]\.url: must be an http:\/\/ or https:\/\/ URL/),
          expect.stringMatching(/^channels\[5\]\.url: must not contain user:password@/),
          "channels[6].headers.Bad Header: not an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)",
          expect.stringMatching(/^channels\[7\]\.headers\.X-Token: must not contain line breaks/),
          expect.stringMatching(/^channels\[8\]\.url: Expected a string \(the value is a secret and is not shown\)/)
        ])
      )
    })
  )

  it.effect("channel names: the type, with the position when several share it; explicit names must be unique", () =>
    Effect.gen(function* () {
      const url = "https://example.com/hook"
      const config = yield* decodeAlerts({
        channels: [
          { type: "slack", url },
          { type: "webhook", url },
          { type: "slack", url },
          { type: "console", name: "ops-console" }
        ]
      })
      assert.deepStrictEqual(channelNames(config.channels), ["slack[0]", "webhook", "slack[2]", "ops-console"])
      const issues = yield* issuesOf({
        channels: [
          { type: "webhook", url, name: "ops" },
          { type: "slack", url, name: "ops" },
          { type: "console", name: "webhook" },
          { type: "webhook", url }
        ]
      })
      assert.deepStrictEqual(issues, [
        'channels[1].name: another channel is already named "ops"',
        'channels[3].name: another channel is already named "webhook"'
      ])
    })
  )

  it.effect("an empty list is allowed: no channel at all", () =>
    Effect.gen(function* () {
      const config = yield* decodeAlerts({ channels: [] })
      const names = yield* Alerts.use((alerts) => Effect.succeed(alerts.channels)).pipe(
        Effect.provide(Alerts.layer(config)),
        Effect.provide(Logger.layerTest),
        Effect.provide(LogCapture.layer)
      )
      assert.deepStrictEqual(names, [])
    })
  )
})

const hookUrl = (server: WebhookServer, path: string) => Redacted.make(server.url(path))

/**
 * Runs `notify` through the real `Alerts.layer` (every channel of `channels`), returns what the logger
 * captured and how long notify took, in seconds.
 */
const notifyReal = (
  channels: AlertsConfigType["channels"],
  overrides: Partial<AlertsConfigType> = {},
  details?: AlertDetails
) =>
  Effect.gen(function* () {
    const started = performance.now()
    yield* Alerts.use((alerts) => alerts.notify("Training done", "loss=0.12", details)).pipe(
      Effect.provide(Alerts.layer({ ...config(overrides), channels })),
      Effect.provide(Logger.layerTest)
    )
    const seconds = (performance.now() - started) / 1000
    return { lines: yield* LogCapture.lines, seconds }
  }).pipe(Effect.provide(LogCapture.layer))

const json = (request: ReceivedRequest | undefined): Record<string, unknown> => {
  assert.isDefined(request)
  return JSON.parse(request!.body) as Record<string, unknown>
}

describe("Alerts.layer webhook channels (a real HTTP server on 127.0.0.1)", () => {
  it.live("posts the Slack, Discord, Teams and generic payloads, with the configured headers", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer({
        "/discord/api/webhooks/1/token": () => ({ status: 204 }),
        "/teams/workflows/abc": () => ({ status: 202 })
      })
      const { lines } = yield* notifyReal(
        [
          { type: "slack", url: hookUrl(server, "/slack/services/T0/B0/token") },
          { type: "discord", url: hookUrl(server, "/discord/api/webhooks/1/token") },
          { type: "teams", url: hookUrl(server, "/teams/workflows/abc?api-version=2016-06-01&sig=token") },
          {
            type: "webhook",
            url: hookUrl(server, "/hook"),
            headers: { Authorization: Redacted.make("Bearer header-token"), "X-Team": Redacted.make("ml") }
          }
        ],
        { app_name: "trainer" },
        { level: "success", fields: { run_id: "0123abcd", duration: "1.50 s" } }
      )
      assert.deepStrictEqual(warnings(lines), [])
      expect(server.requests()).toHaveLength(4)
      for (const request of server.requests()) {
        assert.strictEqual(request.method, "POST")
        expect(request.headers["content-type"]).toMatch(/^application\/json/)
        // Tracing is off: no trace context is sent to a third party.
        assert.isUndefined(request.headers.traceparent)
        assert.isUndefined(request.headers.b3)
      }

      const generic = server.requestsTo("/hook")[0]
      assert.strictEqual(generic?.headers.authorization, "Bearer header-token")
      assert.strictEqual(generic?.headers["x-team"], "ml")
      const body = json(generic)
      const date = body.date as string
      expect(new Date(date).toISOString()).toBe(date)
      assert.deepStrictEqual(body, {
        app_name: "trainer",
        title: "Training done",
        message: "loss=0.12",
        level: "success",
        date,
        fields: { run_id: "0123abcd", duration: "1.50 s" },
        text: "[trainer] Training done: loss=0.12"
      })

      const slack = json(server.requestsTo("/slack/services/T0/B0/token")[0])
      assert.strictEqual(slack.text, "Training done: loss=0.12")
      assert.deepStrictEqual(slack.blocks, [
        { type: "header", text: { type: "plain_text", text: ":white_check_mark: Training done", emoji: true } },
        { type: "section", text: { type: "mrkdwn", text: "loss=0.12" } },
        {
          type: "section",
          fields: [
            { type: "mrkdwn", text: "*run_id*\n0123abcd" },
            { type: "mrkdwn", text: "*duration*\n1.50 s" }
          ]
        },
        { type: "context", elements: [{ type: "mrkdwn", text: `trainer · ${date}` }] }
      ])

      const discord = json(server.requestsTo("/discord/api/webhooks/1/token")[0])
      assert.deepStrictEqual(discord, {
        embeds: [
          {
            title: "Training done",
            description: "loss=0.12",
            color: 0x22c55e,
            timestamp: date,
            footer: { text: "trainer" },
            fields: [
              { name: "run_id", value: "0123abcd", inline: true },
              { name: "duration", value: "1.50 s", inline: true }
            ]
          }
        ],
        allowed_mentions: { parse: [] }
      })

      const teamsRequest = server.requestsTo("/teams/workflows/abc")[0]
      // The query (api-version, sig) reaches the server as given.
      assert.strictEqual(teamsRequest?.url, "/teams/workflows/abc?api-version=2016-06-01&sig=token")
      const teams = json(teamsRequest)
      assert.strictEqual(teams.type, "message")
      const [attachment] = teams.attachments as Array<Record<string, unknown>>
      assert.strictEqual(attachment?.contentType, "application/vnd.microsoft.card.adaptive")
      assert.isNull(attachment?.contentUrl)
      const card = attachment?.content as Record<string, unknown>
      assert.strictEqual(card.type, "AdaptiveCard")
      assert.strictEqual(card.version, "1.4")
      assert.strictEqual(card.$schema, "http://adaptivecards.io/schemas/adaptive-card.json")
      assert.deepStrictEqual(card.body, [
        {
          type: "TextBlock",
          text: "Training done",
          weight: "Bolder",
          size: "Medium",
          color: "Good",
          wrap: true,
          style: "heading"
        },
        { type: "TextBlock", text: "loss=0.12", wrap: true },
        {
          type: "FactSet",
          facts: [
            { title: "run_id", value: "0123abcd" },
            { title: "duration", value: "1.50 s" }
          ]
        },
        { type: "TextBlock", text: `trainer · ${date}`, isSubtle: true, size: "Small", wrap: true }
      ])
      // Not the retired Office 365 connector format.
      expect(JSON.stringify(teams)).not.toMatch(/MessageCard|themeColor/)
    })
  )

  it.live("a channel answering 500 then 200 is retried and delivers, with no warning", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer({
        "/flaky": (_request, index) => (index === 0 ? { status: 500, body: "internal error" } : { status: 200 })
      })
      const { lines } = yield* notifyReal([{ type: "webhook", url: hookUrl(server, "/flaky") }])
      expect(server.requestsTo("/flaky")).toHaveLength(2)
      assert.strictEqual(server.requestsTo("/flaky")[0]?.body, server.requestsTo("/flaky")[1]?.body)
      assert.deepStrictEqual(warnings(lines), [])
      expect(lines.map((line) => line.message)).toContain(
        "alert channel webhook: attempt 1 failed (HTTP 500: internal error); retrying"
      )
    })
  )

  it.live("transient answers are retried at most 3 times, then one warning with the last status", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer({ "/busy": () => ({ status: 503, body: "busy" }) })
      const { lines } = yield* notifyReal([{ type: "slack", url: hookUrl(server, "/busy") }])
      const requests = server.requestsTo("/busy")
      expect(requests).toHaveLength(4)
      // Exponential backoff: 250, 500, 1000 ms ± 20 % (lower bounds only: a busy machine only adds time).
      const gaps = requests.slice(1).map((request, index) => request.at - requests[index]!.at)
      expect(gaps[0]).toBeGreaterThanOrEqual(190)
      expect(gaps[1]).toBeGreaterThanOrEqual(390)
      expect(gaps[2]).toBeGreaterThanOrEqual(790)
      assert.deepStrictEqual(warnings(lines), ["alert channel slack failed: HTTP 503: busy (4 attempts)"])
    })
  )

  it.live("429 waits at least Retry-After; a 4xx other than 408/429 is not retried", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer({
        "/limited": (_request, index) =>
          index === 0 ? { status: 429, body: "slow down", headers: { "retry-after": "1" } } : { status: 200 },
        "/gone": () => ({ status: 404, body: "no_service" })
      })
      const { lines } = yield* notifyReal([
        { type: "webhook", name: "limited", url: hookUrl(server, "/limited") },
        { type: "discord", url: hookUrl(server, "/gone") }
      ])
      const limited = server.requestsTo("/limited")
      expect(limited).toHaveLength(2)
      expect(limited[1]!.at - limited[0]!.at).toBeGreaterThanOrEqual(950)
      expect(server.requestsTo("/gone")).toHaveLength(1)
      assert.deepStrictEqual(warnings(lines), ["alert channel discord failed: HTTP 404: no_service (1 attempt)"])
    })
  )

  it.live("a Retry-After longer than the timeout is not waited for", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer({
        "/later": () => ({ status: 429, body: "later", headers: { "retry-after": "120" } })
      })
      const { lines } = yield* notifyReal([{ type: "webhook", url: hookUrl(server, "/later") }], { timeout: 2 })
      expect(server.requestsTo("/later")).toHaveLength(1)
      // The channel's own answer, not "no answer within 2 s": it gave up at once instead of waiting.
      assert.deepStrictEqual(warnings(lines), ["alert channel webhook failed: HTTP 429: later (1 attempt)"])
    })
  )

  it.live("a refused connection is retried, then a warning naming the channel", () =>
    Effect.gen(function* () {
      // A port nobody listens on (it was free a moment ago): connections are refused.
      const port = yield* Effect.promise(freePort)
      const { lines } = yield* notifyReal([
        { type: "teams", url: Redacted.make(`http://127.0.0.1:${port}/workflows/x?sig=abcdef123456`) }
      ])
      const warned = warnings(lines)
      assert.deepStrictEqual(warned, ["alert channel teams failed: request failed: ECONNREFUSED (4 attempts)"])
      expect(lines.filter((line) => line.message.includes("retrying"))).toHaveLength(3)
    })
  )

  it.live("a hanging channel is abandoned on time (1 s timeout) while the others deliver", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer({ "/hang": () => "hang" })
      const { lines, seconds } = yield* notifyReal(
        [
          { type: "slack", url: hookUrl(server, "/hang") },
          { type: "webhook", url: hookUrl(server, "/ok") }
        ],
        { timeout: 1 }
      )
      expect(seconds).toBeGreaterThanOrEqual(0.95)
      expect(seconds).toBeLessThan(3)
      expect(server.requestsTo("/hang")).toHaveLength(1)
      expect(server.requestsTo("/ok")).toHaveLength(1)
      assert.deepStrictEqual(warnings(lines), ["alert channel slack failed: no answer within 1 s"])
    })
  )

  it.live("one failing channel does not stop the others: each failure is its own warning", () =>
    Effect.gen(function* () {
      // A port nobody listens on (it was free a moment ago): connections are refused.
      const port = yield* Effect.promise(freePort)
      const server = yield* webhookServer({ "/bad": () => ({ status: 400, body: "invalid_payload" }) })
      const console = stream()
      const { lines } = yield* Effect.gen(function* () {
        yield* Alerts.use((alerts) => alerts.notify("Title", "Message")).pipe(
          Effect.provide(
            Alerts.fromChannels(config(), [
              httpChannel({ name: "bad", url: hookUrl(server, "/bad"), payload: webhookPayloads.slack }),
              httpChannel({
                name: "refused",
                url: Redacted.make(`http://127.0.0.1:${port}/x`),
                payload: webhookPayloads.webhook
              }),
              httpChannel({ name: "good", url: hookUrl(server, "/good"), payload: webhookPayloads.discord }),
              consoleChannel(console.out)
            ])
          ),
          Effect.provide(Logger.layerTest)
        )
        return { lines: yield* LogCapture.lines }
      }).pipe(Effect.provide(LogCapture.layer))
      expect(server.requestsTo("/good")).toHaveLength(1)
      assert.strictEqual(console.text(), "[unit] Title: Message\n")
      assert.sameMembers(warnings(lines), [
        "alert channel bad failed: HTTP 400: invalid_payload (1 attempt)",
        "alert channel refused failed: request failed: ECONNREFUSED (4 attempts)"
      ])
    })
  )

  it.live("a server echoing the URL and the headers back: the warning shows <redacted>, never the secrets", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer({
        "/services/T0/B0/tok-s3cr3t-path": (request) => ({
          status: 400,
          body: `bad request to ${request.url} from ${request.headers.authorization} (${request.headers["x-api-key"]})`
        })
      })
      const url = server.url("/services/T0/B0/tok-s3cr3t-path?sig=sig-s3cr3t-query")
      const { lines } = yield* notifyReal([
        {
          type: "webhook",
          url: Redacted.make(url),
          headers: {
            Authorization: Redacted.make("Bearer bearer-s3cr3t"),
            "X-Api-Key": Redacted.make("key-s3cr3t")
          }
        }
      ])
      const everything = JSON.stringify(lines)
      expect(everything).not.toMatch(/s3cr3t/)
      const [warned] = warnings(lines)
      assert.strictEqual(
        warned,
        "alert channel webhook failed: HTTP 400: bad request to <redacted> from <redacted> (<redacted>) (1 attempt)"
      )
      // The [START] line names the channel only.
      expect(lines.find((line) => line.message.startsWith("[START] Alerts"))?.message).toBe(
        "[START] Alerts: app_name=unit channels=webhook"
      )
    })
  )

  it.live("enable: false sends nothing to the webhooks: only the console line", () =>
    Effect.gen(function* () {
      const server = yield* webhookServer()
      const names = yield* Alerts.use((alerts) => Effect.succeed(alerts.channels)).pipe(
        Effect.provide(
          Alerts.layer(config({ enable: false, channels: [{ type: "webhook", url: hookUrl(server, "/hook") }] }))
        ),
        Effect.provide(Logger.layerTest),
        Effect.provide(LogCapture.layer)
      )
      assert.deepStrictEqual(names, ["console"])
      expect(server.requests()).toHaveLength(0)
    })
  )
})
