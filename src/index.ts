/**
 * autogen-team: run a project's jobs (training, tuning, evaluation, …) in a managed context with a logger,
 * alerts and MLflow tracking, on Effect.
 *
 * @module
 */
export { ConfigError, type ConfigIssue, type ConfigLocation, decodeConfig } from "./config/decode.js"
export { decodeLoaded, type LoadConfigOptions, type LoadedConfig, loadConfig } from "./config/load.js"
export {
  type AnyJob,
  configValue,
  decodeJob,
  flattenConfig,
  isJobClass,
  Job,
  type JobBaseClass,
  type JobClass,
  type JobServices,
  type Locals,
  type RunJobOptions,
  redactedPlaceholder,
  runJob,
  serviceFields
} from "./jobs/base.js"
export { CommandFailedError, CommandJob, type CommandLocals } from "./jobs/command.js"
export { errorSummary, type JobOutcome, type OutcomeAlert, outcomeAlert, runLocation } from "./jobs/outcome.js"
export {
  type Alert,
  type AlertChannel,
  AlertChannelConfig,
  type AlertDetails,
  AlertError,
  type AlertLevel,
  AlertRecorder,
  Alerts,
  AlertsConfig,
  ConsoleChannelConfig,
  channelNames,
  consoleChannel,
  consoleLine,
  DesktopChannelConfig,
  DiscordChannelConfig,
  defaultAlertsConfig,
  desktopChannel,
  desktopSupported,
  HeaderValue,
  type HttpChannelOptions,
  httpChannel,
  httpRetries,
  httpRetryBase,
  SlackChannelConfig,
  TeamsChannelConfig,
  WebhookChannelConfig,
  WebhookHeaders,
  WebhookUrl,
  webhookUrl
} from "./services/alerts.js"
export { ServiceStartError } from "./services/errors.js"
export {
  type CapturedLog,
  defaultLoggerConfig,
  LogCapture,
  Logger,
  LoggerConfig,
  LogLevelName,
  messageText
} from "./services/logger.js"
export {
  CurrentRun,
  defaultMlflowConfig,
  displayUri,
  MemoryTracking,
  type MetricOptions,
  Mlflow,
  MlflowConfig,
  type MlflowError,
  NoActiveRunError,
  type ParamValue,
  type Run,
  type RunConfig,
  statusFromExit
} from "./services/mlflow.js"
export {
  discordPayload,
  slackPayload,
  teamsPayload,
  webhookPayload,
  webhookPayloads
} from "./services/webhooks.js"
export { currentUser, gitCommit, sourceTags } from "./tracking/context.js"
export { type MemoryTrackingStore, makeMemoryStore, memoryUri } from "./tracking/memory.js"
// Types only: the REST store (and its HTTP client) loads when a job's tracking URI is http(s), not before.
export type { RestCredentials, RestStoreOptions } from "./tracking/rest.js"
export type {
  ArtifactEntry,
  ArtifactSource,
  CreateRunInput,
  Experiment,
  LogBatch,
  Metric,
  Param,
  RunData,
  RunInfo,
  RunStatus,
  Tag,
  TrackingStore
} from "./tracking/store.js"
export { TrackingError } from "./tracking/store.js"
export { chunkBatch, MlflowLimits, MlflowValidationError, validateBatch } from "./tracking/validation.js"
