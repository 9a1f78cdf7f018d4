import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Decode from "../src/config/decode.js"
import * as Load from "../src/config/load.js"
import * as Api from "../src/index.js"
import * as Base from "../src/jobs/base.js"
import * as Command from "../src/jobs/command.js"
import * as Outcome from "../src/jobs/outcome.js"
import * as AlertsModule from "../src/services/alerts.js"
import * as Errors from "../src/services/errors.js"
import * as LoggerModule from "../src/services/logger.js"
import * as MlflowModule from "../src/services/mlflow.js"
import * as Webhooks from "../src/services/webhooks.js"
import * as Context from "../src/tracking/context.js"
import * as Memory from "../src/tracking/memory.js"
import * as Store from "../src/tracking/store.js"
import * as Validation from "../src/tracking/validation.js"

// Every runtime export of the public API, with the module that defines it: a missing or broken re-export
// (undefined, or another value than the defining module's) fails here.
const runtimeExports: ReadonlyArray<readonly [name: string, module: Record<string, unknown>]> = [
  ["ConfigError", Decode],
  ["decodeConfig", Decode],
  ["loadConfig", Load],
  ["decodeLoaded", Load],
  ["configValue", Base],
  ["isJobClass", Base],
  ["CommandJob", Command],
  ["CommandFailedError", Command],
  ["decodeJob", Base],
  ["flattenConfig", Base],
  ["Job", Base],
  ["redactedPlaceholder", Base],
  ["runJob", Base],
  ["serviceFields", Base],
  ["AlertError", AlertsModule],
  ["AlertRecorder", AlertsModule],
  ["Alerts", AlertsModule],
  ["AlertsConfig", AlertsModule],
  ["consoleChannel", AlertsModule],
  ["consoleLine", AlertsModule],
  ["defaultAlertsConfig", AlertsModule],
  ["desktopChannel", AlertsModule],
  ["desktopSupported", AlertsModule],
  ["AlertChannelConfig", AlertsModule],
  ["ConsoleChannelConfig", AlertsModule],
  ["DesktopChannelConfig", AlertsModule],
  ["SlackChannelConfig", AlertsModule],
  ["DiscordChannelConfig", AlertsModule],
  ["TeamsChannelConfig", AlertsModule],
  ["WebhookChannelConfig", AlertsModule],
  ["WebhookHeaders", AlertsModule],
  ["WebhookUrl", AlertsModule],
  ["webhookUrl", AlertsModule],
  ["HeaderValue", AlertsModule],
  ["channelNames", AlertsModule],
  ["httpChannel", AlertsModule],
  ["httpRetries", AlertsModule],
  ["httpRetryBase", AlertsModule],
  ["slackPayload", Webhooks],
  ["discordPayload", Webhooks],
  ["teamsPayload", Webhooks],
  ["webhookPayload", Webhooks],
  ["webhookPayloads", Webhooks],
  ["outcomeAlert", Outcome],
  ["errorSummary", Outcome],
  ["runLocation", Outcome],
  ["ServiceStartError", Errors],
  ["defaultLoggerConfig", LoggerModule],
  ["LogCapture", LoggerModule],
  ["Logger", LoggerModule],
  ["LoggerConfig", LoggerModule],
  ["LogLevelName", LoggerModule],
  ["messageText", LoggerModule],
  ["CurrentRun", MlflowModule],
  ["defaultMlflowConfig", MlflowModule],
  ["displayUri", MlflowModule],
  ["MemoryTracking", MlflowModule],
  ["Mlflow", MlflowModule],
  ["MlflowConfig", MlflowModule],
  ["NoActiveRunError", MlflowModule],
  ["statusFromExit", MlflowModule],
  ["currentUser", Context],
  ["gitCommit", Context],
  ["sourceTags", Context],
  ["makeMemoryStore", Memory],
  ["memoryUri", Memory],
  ["TrackingError", Store],
  ["chunkBatch", Validation],
  ["MlflowLimits", Validation],
  ["MlflowValidationError", Validation],
  ["validateBatch", Validation]
]

// Type-only exports are checked by `tsc`: a broken one makes this alias fail to compile.
type PublicTypes = [
  Api.ConfigIssue,
  Api.ConfigLocation,
  Api.LoadConfigOptions,
  Api.LoadedConfig,
  Api.CommandLocals,
  Api.AnyJob,
  Api.JobServices,
  Api.Locals,
  Api.RunJobOptions,
  Api.Alert,
  Api.AlertChannel,
  Api.AlertChannelConfig,
  Api.AlertDetails,
  Api.AlertLevel,
  Api.HttpChannelOptions,
  Api.JobOutcome,
  Api.OutcomeAlert,
  Api.CapturedLog,
  Api.MlflowError,
  Api.MetricOptions,
  Api.ParamValue,
  Api.Run,
  Api.RunConfig,
  Api.MemoryTrackingStore,
  Api.RestCredentials,
  Api.RestStoreOptions,
  Api.ArtifactEntry,
  Api.ArtifactSource,
  Api.CreateRunInput,
  Api.Experiment,
  Api.LogBatch,
  Api.Metric,
  Api.Param,
  Api.RunData,
  Api.RunInfo,
  Api.RunStatus,
  Api.Tag,
  Api.TrackingStore
]

describe("public API (src/index.ts)", () => {
  const api = Api as Record<string, unknown>

  it.effect.each(runtimeExports.map(([name, module]) => ({ name, module })))(
    "exports $name, the same value its module defines",
    ({ name, module }) =>
      Effect.sync(() => {
        assert.isDefined(module[name], `${name} is not defined by its own module`)
        assert.property(api, name)
        assert.isDefined(api[name])
        assert.strictEqual(api[name], module[name])
      })
  )

  it.effect("lists the type-only exports (checked by tsc)", () =>
    Effect.sync(() => {
      const typeExports: PublicTypes["length"] = 38
      assert.strictEqual(typeExports, 38)
    })
  )

  it.effect("exports nothing at runtime beyond the list above", () =>
    Effect.sync(() => {
      assert.sameMembers(
        Object.keys(Api),
        runtimeExports.map(([name]) => name)
      )
    })
  )

  it.effect("the re-exports are usable: a ConfigError from decodeConfig, a memory store, the limits", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Api.decodeConfig(Api.LoggerConfig)({ level: "LOUD" }, "api"))
      assert.instanceOf(error, Api.ConfigError)
      assert.strictEqual(error.issues[0]?.path, "level")
      const store = Api.makeMemoryStore()
      assert.strictEqual(store.uri, Api.memoryUri)
      assert.strictEqual(Api.MlflowLimits.metricsPerBatch, 1000)
      assert.strictEqual(Api.consoleLine({ appName: "a", title: "t", message: "m", date: new Date() }), "[a] t: m")
    })
  )
})
