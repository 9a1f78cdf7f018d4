/**
 * The Alerts service: `notify(title, message)` tells people something about a job, on every configured
 * channel at once — console, desktop, Slack, Discord, Teams or any webhook. An alert never fails and never
 * hangs a job: every channel is bounded by a timeout (retries included), and a channel that fails is logged
 * as a warning naming it. Webhook URLs and headers are secrets (`Redacted`) from decoding on.
 *
 * @module
 */
import { spawnSync } from "node:child_process"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { withDefault } from "../internal/schema.js"
import { ServiceStartError } from "./errors.js"
import { webhookPayloads } from "./webhooks.js"

// The value of a secret is never quoted in a decoding error: a wrong type gets this message instead of
// "Expected string, got …", and the checks below see the Redacted, not the text. The description goes on
// this string, the encoded side, which is where the JSON Schema of configuration files reads it.
const secretString = (description: string) =>
  Schema.String.annotate({ message: "Expected a string (the value is a secret and is not shown)", description })

/** Why `url` cannot be a webhook URL, or `undefined` when it can. */
const webhookUrlProblem = (url: string): string | undefined => {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return "must be an absolute http:// or https:// URL (the value is a secret and is not shown)"
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    return "must be an http:// or https:// URL (the value is a secret and is not shown)"
  }
  // fetch refuses URLs with credentials; a header (Authorization) is where they belong.
  if (parsed.username !== "" || parsed.password !== "") {
    return "must not contain user:password@; send credentials in `headers` (the value is a secret and is not shown)"
  }
  return undefined
}

/**
 * A webhook URL field, described by `description` in the JSON Schema. Decoded from a plain string into a
 * `Redacted`, as webhook URLs carry their token, so no log line, error, `[START]` line, MLflow param or
 * config artifact ever shows it. It must be an absolute http(s) URL without `user:password@`.
 * Constructing a config with `new` takes `Redacted.make("…")`.
 */
export const webhookUrl = (description: string) =>
  Schema.RedactedFromValue(secretString(description)).check(
    Schema.makeFilter((value: Redacted.Redacted<string>) => webhookUrlProblem(Redacted.value(value)) ?? true)
  )

/** {@link webhookUrl} with a generic description. */
export const WebhookUrl = webhookUrl("An http(s) webhook URL (a secret: never logged or tracked).")

/** An HTTP header value: a secret (tokens, signatures), decoded into a `Redacted`; no line breaks or NUL. */
export const HeaderValue = Schema.RedactedFromValue(secretString("A header value (a secret).")).check(
  Schema.makeFilter(
    (value: Redacted.Redacted<string>) =>
      !/[\r\n\0]/.test(Redacted.value(value)) ||
      "must not contain line breaks or NUL (the value is a secret and is not shown)"
  )
)

const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** HTTP headers by name (RFC 9110 tokens); values are {@link HeaderValue}s. */
export const WebhookHeaders = Schema.Record(Schema.String, HeaderValue)
  .annotate({ description: "Headers sent with every alert, e.g. Authorization (values are secrets)." })
  .check(
    // Checked here rather than by the key schema, which would report a bad name as an "unknown key".
    Schema.makeFilter((headers: Readonly<Record<string, unknown>>) => {
      const issues = Object.keys(headers)
        .filter((name) => !headerName.test(name))
        .map((name) => ({ path: [name], issue: "not an HTTP header name (letters, digits and !#$%&'*+.^_`|~-)" }))
      return issues.length === 0 ? true : issues
    })
  )

const channelName = Schema.optionalKey(
  Schema.NonEmptyString.annotate({
    description: "Names the channel in warnings and [START] lines; defaults to its type."
  })
)

/** `{ type: console }`: prints `[<app_name>] <title>: <message>` on stdout. */
export const ConsoleChannelConfig = Schema.Struct({
  type: Schema.Literal("console").annotate({ description: "Print alerts on stdout." }),
  name: channelName
})

/** `{ type: desktop }`: a desktop notification; the console line where no desktop can show one. */
export const DesktopChannelConfig = Schema.Struct({
  type: Schema.Literal("desktop").annotate({
    description: "Desktop notification (node-notifier); the console line where none can be shown."
  }),
  name: channelName
})

/** `{ type: slack, url }`: a Slack incoming webhook (Block Kit message). */
export const SlackChannelConfig = Schema.Struct({
  type: Schema.Literal("slack").annotate({ description: "Slack incoming webhook." }),
  name: channelName,
  url: webhookUrl("The incoming-webhook URL (a secret: never logged or tracked).")
})

/** `{ type: discord, url }`: a Discord webhook (one embed; mentions disabled). */
export const DiscordChannelConfig = Schema.Struct({
  type: Schema.Literal("discord").annotate({ description: "Discord webhook." }),
  name: channelName,
  url: webhookUrl("The webhook URL (a secret: never logged or tracked).")
})

/**
 * `{ type: teams, url }`: a Microsoft Teams Workflows (Power Automate) webhook, "When a Teams webhook request
 * is received", posting an Adaptive Card. The retired Office 365 connector (MessageCard) format is not sent.
 */
export const TeamsChannelConfig = Schema.Struct({
  type: Schema.Literal("teams").annotate({ description: "Microsoft Teams Workflows webhook (Adaptive Card)." }),
  name: channelName,
  url: webhookUrl("The workflow's webhook URL (a secret: never logged or tracked).")
})

/** `{ type: webhook, url, headers }`: any endpoint, POSTed the generic JSON alert. */
export const WebhookChannelConfig = Schema.Struct({
  type: Schema.Literal("webhook").annotate({ description: "Generic JSON POST." }),
  name: channelName,
  url: webhookUrl("The endpoint URL (a secret: never logged or tracked)."),
  headers: Schema.optionalKey(WebhookHeaders)
})

/** One entry of `alerts_service.channels`: where alerts go, chosen by `type`. */
export const AlertChannelConfig = Schema.Union([
  ConsoleChannelConfig,
  DesktopChannelConfig,
  SlackChannelConfig,
  DiscordChannelConfig,
  TeamsChannelConfig,
  WebhookChannelConfig
]).annotate({
  // Without it, an unknown type is reported with the whole entry quoted, webhook URL included.
  message:
    "must be a channel: { type: console | desktop | slack | discord | teams | webhook, … } (unknown or missing type)"
})
/** A decoded channel configuration. */
export type AlertChannelConfig = typeof AlertChannelConfig.Type

/**
 * The name each channel gets in warnings and `[START]` lines: its `name`, or its type — followed by its
 * position in the list (`slack[2]`) when several channels share that type.
 */
export const channelNames = (channels: ReadonlyArray<AlertChannelConfig>): ReadonlyArray<string> =>
  channels.map((channel, index) => {
    if (channel.name !== undefined) return channel.name
    const shared = channels.filter((other) => other.name === undefined && other.type === channel.type).length > 1
    return shared ? `${channel.type}[${index}]` : channel.type
  })

// A warning that names a channel must say which one: two channels with the same name are a config error.
const uniqueNames = Schema.makeFilter((channels: ReadonlyArray<AlertChannelConfig>) => {
  const names = channelNames(channels)
  const issues = names.flatMap((name, index) =>
    names.indexOf(name) < index
      ? [{ path: [index, "name"], issue: `another channel is already named ${JSON.stringify(name)}` }]
      : []
  )
  return issues.length === 0 ? true : issues
})

const defaultChannels: ReadonlyArray<AlertChannelConfig> = [{ type: "desktop" }]

/** Configuration of the alerts service (`alerts_service` in a job's config). */
export const AlertsConfig = Schema.Struct({
  /** `false`: every alert is only printed as the console line, whatever the channels say. */
  enable: Schema.Boolean.pipe(
    withDefault(true, "Send alerts to the channels; when false, only print them on stdout as the console line.")
  ),
  /** Names the sender of every alert. */
  app_name: Schema.NonEmptyString.pipe(withDefault("autogen-team", "Application name shown with every alert.")),
  /** Longest time one channel may take to deliver an alert (retries included), in seconds. */
  timeout: Schema.Finite.check(Schema.isGreaterThan(0)).pipe(
    withDefault(5, "Seconds one channel may take to deliver an alert, retries included, before it is abandoned.")
  ),
  /** Whether a job that succeeds sends an alert too; failures and interruptions always do. */
  on_success: Schema.Boolean.pipe(
    withDefault(false, "Also alert when a job succeeds (failures and interruptions always alert).")
  ),
  /** Where alerts go, all of them concurrently. */
  channels: Schema.Array(AlertChannelConfig)
    // Annotated before the check: the JSON Schema drops the annotations of a check it cannot express.
    .annotate({
      description:
        "Where alerts go, all at once: a list of { type: console | desktop | slack | discord | teams | webhook, … }.",
      default: defaultChannels
    })
    .check(uniqueNames)
    .pipe(withDefault(defaultChannels))
})
/** Decoded alerts configuration. */
export type AlertsConfig = typeof AlertsConfig.Type

/** The alerts configuration used when a job's config says nothing. */
export const defaultAlertsConfig: AlertsConfig = Schema.decodeUnknownSync(AlertsConfig)({})

/** How serious an alert is; chat channels colour it. Automatic job alerts use `error`, `warning`, `success`. */
export type AlertLevel = "info" | "success" | "warning" | "error"

/** The optional parts of an alert, beyond its title and message. */
export interface AlertDetails {
  /** Defaults to `info`. */
  readonly level?: AlertLevel | undefined
  /** Facts shown beside the message (chat channels) or sent as a JSON object (generic webhook), in order. */
  readonly fields?: Readonly<Record<string, string>> | undefined
}

/** One alert, as channels receive it and the test layer records it. */
export interface Alert extends AlertDetails {
  readonly title: string
  readonly message: string
  readonly appName: string
  readonly date: Date
}

/** A channel could not deliver an alert. Alerts catches it and logs a warning; it never reaches the job. */
export class AlertError extends Schema.TaggedError<AlertError>()("AlertError", {
  channel: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `alert channel ${this.channel} failed: ${this.reason}`
  }
}

/**
 * Where alerts go. Adding a channel (webhooks, chat) is implementing this interface and listing it in
 * {@link Alerts.fromChannels}; nothing else changes.
 */
export interface AlertChannel {
  /** Names the channel in warnings and `[START]` lines. */
  readonly name: string
  readonly send: (alert: Alert) => Effect.Effect<void, AlertError>
}

/** Where {@link Alerts.layerTest} records alerts; provide {@link AlertRecorder.layer} around a test. */
export class AlertRecorder extends Context.Service<
  AlertRecorder,
  {
    readonly record: (alert: Alert) => void
    /** Every alert recorded so far, oldest first. */
    readonly alerts: Effect.Effect<ReadonlyArray<Alert>>
  }
>()("autogen-team/services/AlertRecorder") {
  /** A fresh, empty recorder. */
  static readonly layer: Layer.Layer<AlertRecorder> = Layer.sync(AlertRecorder, () => {
    const recorded: Array<Alert> = []
    return AlertRecorder.of({
      record: (alert) => {
        recorded.push(alert)
      },
      alerts: Effect.sync(() => [...recorded])
    })
  })

  /** Every alert recorded so far, oldest first. */
  static readonly alerts: Effect.Effect<ReadonlyArray<Alert>, never, AlertRecorder> = AlertRecorder.use(
    (recorder) => recorder.alerts
  )
}

/** The running alerts service of a job. */
export class Alerts extends Context.Service<
  Alerts,
  {
    /**
     * Delivers an alert to every channel, concurrently, each bounded by the configured timeout. Never fails;
     * a channel that fails or does not answer in time is a warning naming it.
     */
    readonly notify: (title: string, message: string, details?: AlertDetails) => Effect.Effect<void>
    /** Names of the channels alerts go to. */
    readonly channels: ReadonlyArray<string>
  }
>()("autogen-team/services/Alerts") {
  /**
   * The alerts service over explicit channels: delivers to all of them concurrently, each bounded by
   * `timeout`; writes `[START] Alerts` / `[STOP] Alerts` at DEBUG.
   */
  static readonly fromChannels = (
    config: Pick<AlertsConfig, "app_name" | "timeout">,
    channels: ReadonlyArray<AlertChannel>
  ): Layer.Layer<Alerts> =>
    Layer.effect(
      Alerts,
      Effect.gen(function* () {
        const names = channels.map((channel) => channel.name)
        yield* Effect.logDebug(`[START] Alerts: app_name=${config.app_name} channels=${names.join(",") || "none"}`)
        yield* Effect.addFinalizer(() => Effect.logDebug("[STOP] Alerts"))
        const timeout = Duration.seconds(config.timeout)
        // The channel runs in its own fiber and only the join is bounded: `timeoutOrElse` waits for an interrupted
        // effect to finish, so a channel stuck in an uninterruptible region would otherwise hold the job up.
        const deliver = (channel: AlertChannel, alert: Alert) =>
          Effect.forkDetach(channel.send(alert)).pipe(
            Effect.flatMap((fiber) =>
              Fiber.join(fiber).pipe(
                Effect.timeoutOrElse({
                  duration: timeout,
                  orElse: () =>
                    Effect.fail(
                      new AlertError({ channel: channel.name, reason: `no answer within ${config.timeout} s` })
                    )
                }),
                // An abandoned channel is asked to stop, without waiting for it.
                Effect.ensuring(Effect.forkDetach(Fiber.interrupt(fiber)))
              )
            ),
            Effect.catch((error) => Effect.logWarning(error.message)),
            // A channel that throws instead of failing is still only a warning: alerts must not break jobs.
            Effect.catchDefect((defect) =>
              Effect.logWarning(`alert channel ${channel.name} crashed: ${String(defect)}`)
            )
          )
        return Alerts.of({
          channels: names,
          notify: (title, message, details = {}) =>
            Effect.suspend(() => {
              const alert: Alert = {
                title,
                message,
                appName: config.app_name,
                date: new Date(),
                ...(details.level === undefined ? {} : { level: details.level }),
                ...(details.fields === undefined ? {} : { fields: details.fields })
              }
              return Effect.forEach(channels, (channel) => deliver(channel, alert), {
                concurrency: "unbounded",
                discard: true
              })
            })
        })
      })
    )

  /**
   * The real alerts service (missing options take their defaults): one channel per entry of `channels`
   * (desktop notifications by default, falling back to the console line where no desktop can show them,
   * such as headless Linux), or, when `enable` is false, only the console line `[<app_name>] <title>:
   * <message>` on stdout. The HTTP code of webhook channels is loaded here, only when one is configured.
   */
  static readonly layer = (options: Partial<AlertsConfig> = {}): Layer.Layer<Alerts, ServiceStartError> =>
    Layer.unwrap(
      Effect.gen(function* () {
        const config: AlertsConfig = { ...defaultAlertsConfig, ...options }
        const specs = config.enable ? config.channels : [{ type: "console" } as const]
        if (specs.some((spec) => isHttpChannel(spec))) {
          // Loaded while the job starts, so the first alert's timeout is not spent loading code.
          yield* loadHttpChannel("Alerts").pipe(
            Effect.mapError((error) => new ServiceStartError({ service: "Alerts", reason: error.reason, cause: error }))
          )
        }
        const names = channelNames(specs)
        return Alerts.fromChannels(
          config,
          specs.map((spec, index) => channelFromConfig(spec, names[index] ?? spec.type, config))
        )
      })
    )

  /** The alerts service for tests: records every alert into the {@link AlertRecorder} provided around it. */
  static readonly layerTest: Layer.Layer<Alerts, never, AlertRecorder> = Layer.unwrap(
    Effect.gen(function* () {
      const recorder = yield* AlertRecorder
      return Alerts.fromChannels({ ...defaultAlertsConfig, app_name: "test" }, [
        { name: "recorder", send: (alert) => Effect.sync(() => recorder.record(alert)) }
      ])
    })
  )
}

type HttpChannelConfig = Extract<AlertChannelConfig, { readonly url: unknown }>

const isHttpChannel = (spec: AlertChannelConfig): spec is HttpChannelConfig => "url" in spec

/** The channel a configuration entry describes. */
const channelFromConfig = (spec: AlertChannelConfig, name: string, config: AlertsConfig): AlertChannel => {
  switch (spec.type) {
    case "console":
      return consoleChannel(process.stdout, name)
    case "desktop":
      return desktopChannel(process.stdout, desktopSupported, name)
    default:
      return httpChannel({
        name,
        url: spec.url,
        headers: spec.type === "webhook" ? spec.headers : undefined,
        payload: webhookPayloads[spec.type],
        timeout: config.timeout
      })
  }
}

/** The line the console channel prints, as the Python original does: `[<app_name>] <title>: <message>`. */
export const consoleLine = (alert: Alert): string => `[${alert.appName}] ${alert.title}: ${alert.message}`

/**
 * Prints alerts as {@link consoleLine} to `out` (stdout in the real layer). A failed write (EPIPE when the
 * reader of stdout is gone) is this channel's {@link AlertError}, never an unhandled stream 'error' event.
 */
export const consoleChannel = (out: NodeJS.WritableStream, name = "console"): AlertChannel => ({
  name,
  send: (alert) =>
    Effect.callback<void, AlertError>((resume) => {
      const failed = (error: Error) => resume(Effect.fail(new AlertError({ channel: name, reason: error.message })))
      // A failed write also emits 'error' on a later tick, which would end the process without a listener.
      out.on("error", failed)
      out.write(`${consoleLine(alert)}\n`, (error) => {
        if (!error) {
          out.off("error", failed)
          return resume(Effect.void)
        }
        failed(error)
        setImmediate(() => out.off("error", failed))
      })
    })
})

/**
 * Whether this machine can show a desktop notification. macOS and Windows always can; Linux needs a
 * graphical session and `notify-send`, which headless servers and containers lack.
 */
export const desktopSupported = (
  platform: NodeJS.Platform = process.platform,
  env: NodeJS.ProcessEnv = process.env
): boolean => {
  if (platform === "darwin" || platform === "win32") return true
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return false
  return spawnSync("sh", ["-c", "command -v notify-send"], { stdio: "ignore" }).status === 0
}

/**
 * Desktop notifications through node-notifier (loaded only when used). Where the desktop cannot show them,
 * or node-notifier reports an error, the alert is printed as the console line instead, so it is never lost.
 */
export const desktopChannel = (
  out: NodeJS.WritableStream,
  supported: () => boolean = desktopSupported,
  name = "desktop"
): AlertChannel => {
  const fallback = consoleChannel(out, name)
  return {
    name,
    send: (alert) =>
      Effect.suspend(() => (supported() ? notifyDesktop(alert, name) : fallback.send(alert))).pipe(
        Effect.catch((error) => Effect.andThen(Effect.logWarning(error.message), fallback.send(alert)))
      )
  }
}

const notifyDesktop = (alert: Alert, channel: string): Effect.Effect<void, AlertError> =>
  Effect.tryPromise({
    try: async () => {
      const { default: notifier } = await import("node-notifier")
      await new Promise<void>((resolve, reject) =>
        notifier.notify({ title: alert.title, message: alert.message, appID: alert.appName }, (error) =>
          error ? reject(error) : resolve()
        )
      )
    },
    catch: (cause) => new AlertError({ channel, reason: cause instanceof Error ? cause.message : String(cause) })
  })

/** Options of {@link httpChannel}. */
export interface HttpChannelOptions {
  /** Names the channel in warnings. */
  readonly name: string
  /** Where to POST; a secret, never shown (nor any part of it) in logs or errors. */
  readonly url: Redacted.Redacted<string>
  /** Sent with every request; values are secrets too. `Content-Type: application/json` unless given here. */
  readonly headers?: Readonly<Record<string, Redacted.Redacted<string>>> | undefined
  /** The JSON body for an alert, e.g. one of {@link webhookPayloads}. */
  readonly payload: (alert: Alert) => unknown
  /**
   * Seconds the channel may take, retries included: no retry is attempted whose `Retry-After` would not
   * fit. The alerts service abandons a channel after its own `timeout` anyway; give the same value.
   */
  readonly timeout?: number | undefined
}

/**
 * The HTTP code of webhook channels (Effect's HttpClient over fetch), imported on first use: a job without
 * webhook channels does not pay for loading it.
 */
const loadHttpChannel = (channel: string) =>
  Effect.tryPromise({
    try: () => import("./http-channel.js"),
    catch: (cause) =>
      new AlertError({
        channel,
        reason: `cannot load the HTTP client: ${cause instanceof Error ? cause.message : String(cause)}`
      })
  })

/**
 * An alert channel that POSTs `payload(alert)` as JSON to `url`: a 2xx answer delivers it; connection errors,
 * 408, 429 and 5xx answers are retried ({@link httpRetries} times, exponential backoff with jitter from
 * {@link httpRetryBase}, at least `Retry-After`); anything else fails at once with the status and the start
 * of the answer. Error messages never contain the URL or header values.
 */
export const httpChannel = (options: HttpChannelOptions): AlertChannel => ({
  name: options.name,
  send: (alert) => loadHttpChannel(options.name).pipe(Effect.flatMap((module) => module.postAlert(options, alert)))
})

/** How many times an HTTP channel retries a transient failure (so at most 1 + this many requests). */
export const httpRetries = 3

/** The first delay between HTTP attempts; each next one doubles (±20 % jitter). */
export const httpRetryBase: Duration.Duration = Duration.millis(250)
