/**
 * The Alerts service: `notify(title, message)` tells people something about a job. An alert never fails and
 * never hangs a job: every channel is bounded by a timeout, and a channel that fails is logged as a warning.
 *
 * @module
 */
import { spawnSync } from "node:child_process"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { withDefault } from "../internal/schema.js"

/** Configuration of the alerts service (`alerts_service` in a job's config). */
export const AlertsConfig = Schema.Struct({
  /** `true`: desktop notifications (console line where the desktop cannot show them); `false`: console line. */
  enable: Schema.Boolean.pipe(withDefault(true, "Send desktop notifications; when false, print alerts to stdout.")),
  /** Names the sender of every alert. */
  app_name: Schema.NonEmptyString.pipe(withDefault("autogen-team", "Application name shown with every alert.")),
  /** Longest time one channel may take to deliver an alert, in seconds. */
  timeout: Schema.Finite.check(Schema.isGreaterThan(0)).pipe(
    withDefault(5, "Seconds one channel may take to deliver an alert before it is abandoned.")
  )
})
/** Decoded alerts configuration. */
export type AlertsConfig = typeof AlertsConfig.Type

/** The alerts configuration used when a job's config says nothing. */
export const defaultAlertsConfig: AlertsConfig = Schema.decodeUnknownSync(AlertsConfig)({})

/** One alert, as channels receive it and the test layer records it. */
export interface Alert {
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
    /** Delivers an alert to every channel. Never fails; failures are logged as warnings. */
    readonly notify: (title: string, message: string) => Effect.Effect<void>
    /** Names of the channels alerts go to. */
    readonly channels: ReadonlyArray<string>
  }
>()("autogen-team/services/Alerts") {
  /**
   * The alerts service over explicit channels: delivers to all of them concurrently, each bounded by
   * `timeout`; writes `[START] Alerts` / `[STOP] Alerts` at DEBUG.
   */
  static readonly fromChannels = (config: AlertsConfig, channels: ReadonlyArray<AlertChannel>): Layer.Layer<Alerts> =>
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
          notify: (title, message) =>
            Effect.suspend(() => {
              const alert: Alert = { title, message, appName: config.app_name, date: new Date() }
              return Effect.forEach(channels, (channel) => deliver(channel, alert), {
                concurrency: "unbounded",
                discard: true
              })
            })
        })
      })
    )

  /**
   * The real alerts service (missing options take their defaults): desktop notifications when `enable` (falling back to the console line where no
   * desktop can show them, such as headless Linux), the console line `[<app_name>] <title>: <message>` on
   * stdout otherwise.
   */
  static readonly layer = (options: Partial<AlertsConfig> = {}): Layer.Layer<Alerts> => {
    const config: AlertsConfig = { ...defaultAlertsConfig, ...options }
    return Alerts.fromChannels(config, [
      config.enable ? desktopChannel(process.stdout) : consoleChannel(process.stdout)
    ])
  }

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

/** The line the console channel prints, as the Python original does: `[<app_name>] <title>: <message>`. */
export const consoleLine = (alert: Alert): string => `[${alert.appName}] ${alert.title}: ${alert.message}`

/**
 * Prints alerts as {@link consoleLine} to `out` (stdout in the real layer). A failed write (EPIPE when the
 * reader of stdout is gone) is this channel's {@link AlertError}, never an unhandled stream 'error' event.
 */
export const consoleChannel = (out: NodeJS.WritableStream): AlertChannel => ({
  name: "console",
  send: (alert) =>
    Effect.callback<void, AlertError>((resume) => {
      const failed = (error: Error) =>
        resume(Effect.fail(new AlertError({ channel: "console", reason: error.message })))
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
  supported: () => boolean = desktopSupported
): AlertChannel => {
  const fallback = consoleChannel(out)
  return {
    name: "desktop",
    send: (alert) =>
      Effect.suspend(() => (supported() ? notifyDesktop(alert) : fallback.send(alert))).pipe(
        Effect.catch((error) => Effect.andThen(Effect.logWarning(error.message), fallback.send(alert)))
      )
  }
}

const notifyDesktop = (alert: Alert): Effect.Effect<void, AlertError> =>
  Effect.tryPromise({
    try: async () => {
      const { default: notifier } = await import("node-notifier")
      await new Promise<void>((resolve, reject) =>
        notifier.notify({ title: alert.title, message: alert.message, appID: alert.appName }, (error) =>
          error ? reject(error) : resolve()
        )
      )
    },
    catch: (cause) =>
      new AlertError({ channel: "desktop", reason: cause instanceof Error ? cause.message : String(cause) })
  })
