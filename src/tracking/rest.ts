/**
 * The REST tracking store: runs go to an MLflow tracking server (`http(s)://host[:port][/prefix]`) through
 * MLflow's REST API 2.0, and artifacts through the server's artifact proxy (`mlflow-artifacts:` locations, on by
 * default in `mlflow server` 3).
 *
 * Why it is built the way it is:
 * - **Fail fast, never hang.** Every store operation has a total time budget (default 30 s, see
 *   {@link RestStoreOptions}); each attempt is bounded by the request timeout and by what is left of the budget.
 *   Connection errors, 408, 429 and 5xx are retried with jittered exponential backoff (100 ms doubling, at most
 *   2 s apart), honouring `Retry-After`; past the budget the operation fails with a {@link TrackingError} naming
 *   the URI without credentials. Python's client, by contrast, retries an unreachable server for minutes.
 * - **Retries duplicate nothing.** Reads, `runs/update`, `log-batch` (MLflow ignores a metric point it already
 *   has and accepts a param logged again with the same value), tags and artifact uploads are safe to send again.
 *   Two calls are not: `experiments/create` (a repeat is answered `RESOURCE_ALREADY_EXISTS`, and the experiment
 *   is then read by name) and `runs/create`, which carries a one-off request tag: after an attempt that may have
 *   reached the server, the next attempt first looks the run up by that tag, so a lost response never makes a
 *   second run. The tag is removed once the run is known.
 * - **Nothing invalid is sent.** Batches are checked against MLflow's rules (`validation.ts`) and cut to its
 *   per-call limits before a request is made; the server's `error_code` and `message` are surfaced as they are.
 * - **Credentials stay secret.** `MLFLOW_TRACKING_TOKEN` (bearer) or `MLFLOW_TRACKING_USERNAME` +
 *   `MLFLOW_TRACKING_PASSWORD` (basic) are read as `Redacted` config; `user:password@` in the URI also works.
 *   They are sent in the `Authorization` header only and never appear in errors or logs.
 *
 * The transport is Effect's `HttpClient` over `fetch` (`FetchHttpClient`), so https works with the system's
 * trust store (add a private CA with `NODE_EXTRA_CA_CERTS`).
 *
 * @module
 */
import { randomUUID } from "node:crypto"
import { readFile } from "node:fs/promises"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpClient from "effect/http/HttpClient"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { decodePercentEscapes, retryAfterMillis, retryableStatus, truncate } from "../internal/http.js"
import {
  type ArtifactEntry,
  type CreateRunInput,
  displayUri,
  type Experiment,
  type LogBatch,
  type Metric,
  type RunData,
  type RunInfo,
  type RunStatus,
  TrackingError,
  type TrackingStore
} from "./store.js"
import { artifactPathSegments, chunkBatch, MlflowValidationError, validateBatch } from "./validation.js"

/** How long one store operation may take, retries included, unless configured otherwise. */
export const defaultRetryBudget: Duration.Duration = Duration.seconds(30)
/** How long one HTTP attempt may wait for its response, unless configured otherwise. */
export const defaultRequestTimeout: Duration.Duration = Duration.seconds(10)

/** How requests authenticate to the tracking server. */
export type RestCredentials =
  | { readonly _tag: "None" }
  | { readonly _tag: "Bearer"; readonly token: Redacted.Redacted<string> }
  | { readonly _tag: "Basic"; readonly username: string; readonly password: Redacted.Redacted<string> }

/** Options of {@link makeRestStore}. */
export interface RestStoreOptions {
  /** `http(s)://[user:password@]host[:port][/prefix]`, as `MLFLOW_TRACKING_URI` is written for Python. */
  readonly uri: string
  /** Total time of one store operation, retries included; {@link defaultRetryBudget} when absent. */
  readonly retryBudget?: Duration.Input | undefined
  /** Longest wait for one HTTP response; {@link defaultRequestTimeout} when absent. */
  readonly requestTimeout?: Duration.Input | undefined
  /** Overrides the credentials otherwise read by {@link credentialsConfig} and from the URI. */
  readonly credentials?: RestCredentials | undefined
}

const nonEmpty = <A extends string | Redacted.Redacted<string>>(value: Option.Option<A>): Option.Option<A> =>
  Option.filter(value, (v) => (typeof v === "string" ? v : Redacted.value(v)).length > 0)

/**
 * MLflow's credential variables, read as config (the environment by default), with Python MLflow's precedence:
 * `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD` for basic auth when both are set, else
 * `MLFLOW_TRACKING_TOKEN` as a bearer token, else none. Empty values count as unset.
 */
export const credentialsConfig: Config.Config<RestCredentials> = Config.all({
  token: Config.option(Config.Redacted("MLFLOW_TRACKING_TOKEN")),
  username: Config.option(Config.String("MLFLOW_TRACKING_USERNAME")),
  password: Config.option(Config.Redacted("MLFLOW_TRACKING_PASSWORD"))
}).pipe(
  Config.map(({ token, username, password }): RestCredentials => {
    const user = nonEmpty(username)
    const secret = nonEmpty(password)
    if (Option.isSome(user) && Option.isSome(secret)) {
      return { _tag: "Basic", username: user.value, password: secret.value }
    }
    const bearer = nonEmpty(token)
    return Option.isSome(bearer) ? { _tag: "Bearer", token: bearer.value } : { _tag: "None" }
  })
)

// ---------------------------------------------------------------------------------------------------------------
// Where requests go

interface Endpoint {
  /** Origin and path prefix of the server, without credentials, query or trailing slash. */
  readonly base: URL
  /** Credentials written in the URI (`user:password@`), used when the config names none. */
  readonly userInfo: RestCredentials
}

const parseEndpoint = (uri: string): Endpoint | string => {
  let url: URL
  try {
    url = new URL(uri)
  } catch {
    return "not a valid http(s) URL"
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "expected an http:// or https:// URL"
  const userInfo: RestCredentials =
    url.username !== "" && url.password !== ""
      ? {
          _tag: "Basic",
          username: decodePercentEscapes(url.username),
          password: Redacted.make(decodePercentEscapes(url.password))
        }
      : { _tag: "None" }
  // fetch refuses URLs with credentials; they go in the Authorization header instead.
  url.username = ""
  url.password = ""
  url.search = ""
  url.hash = ""
  return { base: url, userInfo }
}

/**
 * A URL under the server's prefix, e.g. `api/2.0/mlflow/runs/get`, with `segments` percent-encoded. A URL's
 * pathname is never empty (`http://host` has `/`), so its trailing slashes go here: `//api/…` is another path
 * to a proxy routing by prefix or to a server's permission rules.
 */
const urlOf = (base: URL, path: string, ...segments: ReadonlyArray<string>): string =>
  `${base.origin}${base.pathname.replace(/\/+$/, "")}/${path}${segments.map((segment) => `/${encodeURIComponent(segment)}`).join("")}`

// ---------------------------------------------------------------------------------------------------------------
// One attempt: a request, its response, and what a failure means for retrying

/** Why one attempt failed, and whether it may be tried again. */
interface AttemptFailure {
  readonly _tag: "AttemptFailure"
  readonly reason: string
  /** Worth another attempt within the budget (connection errors, timeouts, 408, 429, 5xx). */
  readonly retryable: boolean
  /** The server may have acted on the request (a lost response, a 5xx): a repeat must not duplicate it. */
  readonly mayHaveReached: boolean
  /** What the server asked for with `Retry-After`, in milliseconds. */
  readonly retryAfterMs?: number | undefined
  /** MLflow's `error_code`, when the server sent one. */
  readonly errorCode?: string | undefined
  readonly cause?: unknown
}

const attemptFailure = (failure: Omit<AttemptFailure, "_tag">): AttemptFailure => ({
  _tag: "AttemptFailure",
  ...failure
})

const ErrorBody = Schema.Struct({
  error_code: Schema.optional(Schema.String),
  message: Schema.optional(Schema.String)
})

/** Codes of failures that happen before a request reaches the server: always safe to send again. */
const NOT_CONNECTED = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL"
])

/** The first error `code` along a chain of causes (fetch wraps the socket's error in `TypeError: fetch failed`). */
const causeCode = (error: unknown): string | undefined => {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (typeof current === "object" && "code" in current && typeof current.code === "string") return current.code
    current = typeof current === "object" && "cause" in current ? current.cause : undefined
  }
  return undefined
}

const isTlsProblem = (code: string): boolean =>
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL/.test(code)

const transportFailure = (cause: unknown): AttemptFailure => {
  const code = causeCode(cause)
  if (code !== undefined && isTlsProblem(code)) {
    return attemptFailure({
      reason:
        `the TLS connection was refused (${code}); to trust a private certificate authority, ` +
        "point NODE_EXTRA_CA_CERTS at its PEM file",
      retryable: false,
      mayHaveReached: false,
      cause
    })
  }
  if (code !== undefined && NOT_CONNECTED.has(code)) {
    return attemptFailure({ reason: `cannot connect (${code})`, retryable: true, mayHaveReached: false, cause })
  }
  return attemptFailure({
    reason: `the connection failed before a response arrived (${code ?? "no error code"})`,
    retryable: true,
    mayHaveReached: true,
    cause
  })
}

// MLflow's messages are cut after this many characters.
const cut = (text: string, max = 1000): string => truncate(text, max + 1)

const decodeErrorBody = Schema.decodeUnknownOption(Schema.fromJsonString(ErrorBody))

const statusFailure = (status: number, body: string, retryAfter: number | undefined): AttemptFailure => {
  // Not MLflow's JSON error (a proxy's page, say): then the start of the body is the best explanation there is.
  const { error_code: errorCode, message } = Option.getOrElse(decodeErrorBody(body), () => ({
    error_code: undefined,
    message: undefined
  }))
  // 401: the server does not know who is asking; 403: it does, and that user may not do this.
  const hint =
    status === 401
      ? "; check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD"
      : status === 403
        ? "; the credentials were accepted but lack this permission: ask the server's admin for it, or check " +
          "MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD name the intended user"
        : ""
  const what =
    errorCode !== undefined || message !== undefined
      ? `${errorCode ?? "error"}: ${cut(message ?? "")}`
      : cut(body.trim(), 300) || "no body"
  return attemptFailure({
    reason: `the server answered HTTP ${status}, ${what}${hint}`,
    retryable: retryableStatus(status),
    // 408 and 429 are refusals to process; a 5xx may come after the work was done.
    mayHaveReached: status >= 500,
    retryAfterMs: retryAfter,
    errorCode
  })
}

/** A request as this store makes them; its body is built again for every attempt. */
interface Call {
  readonly method: "GET" | "POST" | "PUT"
  readonly url: string
  readonly query?: Readonly<Record<string, string>> | undefined
  readonly json?: unknown
  readonly bytes?: Uint8Array | undefined
}

/** A successful response: the status and the whole body. */
interface Answer {
  readonly status: number
  readonly body: Uint8Array
}

const decoder = new TextDecoder()

/** Decodes the JSON body of an answer with `schema`; an empty body reads as `{}`, as MLflow sends for "done". */
const decodeAnswer = <S extends Schema.Constraint>(schema: S) => {
  const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(schema))
  return (answer: Answer): Effect.Effect<S["Type"], AttemptFailure, S["DecodingServices"]> => {
    const text = decoder.decode(answer.body)
    return decode(text.trim() === "" ? "{}" : text).pipe(
      Effect.mapError((cause) =>
        attemptFailure({
          reason: `the server's response is not what MLflow's REST API returns: ${cut(cause.message, 500)}`,
          retryable: false,
          mayHaveReached: true,
          cause
        })
      )
    )
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The MLflow REST API's JSON

// int64 fields: MLflow writes them as numbers, protobuf's canonical JSON (and some proxies) as strings.
const Int64 = Schema.Union([Schema.Finite, Schema.NumberFromString])
// protobuf's JSON spells the non-finite doubles as strings.
const MetricValue = Schema.Union([Schema.Number, Schema.Literals(["NaN", "Infinity", "-Infinity"])])
const KeyValue = Schema.Struct({ key: Schema.String, value: Schema.optional(Schema.String) })

const ExperimentJson = Schema.Struct({
  experiment_id: Schema.String,
  name: Schema.String,
  artifact_location: Schema.optional(Schema.String),
  lifecycle_stage: Schema.optional(Schema.String),
  creation_time: Schema.optional(Int64),
  last_update_time: Schema.optional(Int64)
})
const ExperimentResponse = Schema.Struct({ experiment: ExperimentJson })
const CreateExperimentResponse = Schema.Struct({ experiment_id: Schema.String })

const RunInfoJson = Schema.Struct({
  run_id: Schema.String,
  run_name: Schema.optional(Schema.String),
  experiment_id: Schema.String,
  user_id: Schema.optional(Schema.String),
  status: Schema.Literals(["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]),
  start_time: Schema.optional(Int64),
  end_time: Schema.optional(Int64),
  artifact_uri: Schema.optional(Schema.String),
  lifecycle_stage: Schema.optional(Schema.String)
})
const MetricJson = Schema.Struct({
  key: Schema.String,
  value: MetricValue,
  timestamp: Schema.optional(Int64),
  step: Schema.optional(Int64)
})
const RunJson = Schema.Struct({
  info: RunInfoJson,
  data: Schema.optional(
    Schema.Struct({
      metrics: Schema.optional(Schema.Array(MetricJson)),
      params: Schema.optional(Schema.Array(KeyValue)),
      tags: Schema.optional(Schema.Array(KeyValue))
    })
  )
})
const RunResponse = Schema.Struct({ run: RunJson })
const SearchRunsResponse = Schema.Struct({ runs: Schema.optional(Schema.Array(RunJson)) })
const MetricHistoryResponse = Schema.Struct({
  metrics: Schema.optional(Schema.Array(MetricJson)),
  next_page_token: Schema.optional(Schema.String)
})
const ArtifactListResponse = Schema.Struct({
  files: Schema.optional(
    Schema.Array(
      Schema.Struct({ path: Schema.String, is_dir: Schema.optional(Schema.Boolean), file_size: Schema.optional(Int64) })
    )
  )
})
const Empty = Schema.Struct({})

/**
 * The decoders of every answer this store reads, built once: each compiles its schema (wrapped in
 * `fromJsonString`, a new schema per call) into a parser, which must not happen again for every request.
 */
const answers = {
  experiment: decodeAnswer(ExperimentResponse),
  createdExperiment: decodeAnswer(CreateExperimentResponse),
  run: decodeAnswer(RunResponse),
  searchRuns: decodeAnswer(SearchRunsResponse),
  metricHistory: decodeAnswer(MetricHistoryResponse),
  artifactList: decodeAnswer(ArtifactListResponse),
  empty: decodeAnswer(Empty)
}

const toExperiment = (json: typeof ExperimentJson.Type): Experiment => ({
  experimentId: json.experiment_id,
  name: json.name,
  artifactLocation: json.artifact_location ?? "",
  lifecycleStage: json.lifecycle_stage === "deleted" ? "deleted" : "active",
  creationTime: json.creation_time ?? 0,
  lastUpdateTime: json.last_update_time ?? 0
})

const toRunInfo = (json: typeof RunInfoJson.Type): RunInfo => ({
  runId: json.run_id,
  runName: json.run_name ?? "",
  experimentId: json.experiment_id,
  userId: json.user_id ?? "",
  status: json.status,
  startTime: json.start_time ?? 0,
  endTime: json.end_time ?? null,
  artifactUri: json.artifact_uri ?? "",
  lifecycleStage: json.lifecycle_stage === "deleted" ? "deleted" : "active"
})

const toMetric = (json: typeof MetricJson.Type): Metric => ({
  key: json.key,
  value:
    json.value === "NaN"
      ? Number.NaN
      : json.value === "Infinity"
        ? Number.POSITIVE_INFINITY
        : json.value === "-Infinity"
          ? Number.NEGATIVE_INFINITY
          : json.value,
  timestamp: json.timestamp ?? 0,
  step: json.step ?? 0
})

const fromMetric = (metric: Metric) => ({
  key: metric.key,
  value: Number.isNaN(metric.value)
    ? "NaN"
    : metric.value === Number.POSITIVE_INFINITY
      ? "Infinity"
      : metric.value === Number.NEGATIVE_INFINITY
        ? "-Infinity"
        : metric.value,
  timestamp: metric.timestamp,
  step: metric.step
})

const byKey = <A extends { readonly key: string }>(a: A, b: A): number => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)

// As the embedded store orders a history: by step, then timestamp, then value with NaN as its stored 0.
const byStepTimestampValue = (a: Metric, b: Metric): number => {
  const value = (metric: Metric) => (Number.isNaN(metric.value) ? 0 : metric.value)
  return a.step - b.step || a.timestamp - b.timestamp || value(a) - value(b)
}

const toRunData = (json: typeof RunJson.Type): RunData => ({
  info: toRunInfo(json.info),
  params: (json.data?.params ?? []).map((p) => ({ key: p.key, value: p.value ?? "" })).sort(byKey),
  tags: (json.data?.tags ?? []).map((t) => ({ key: t.key, value: t.value ?? "" })).sort(byKey),
  latestMetrics: (json.data?.metrics ?? []).map(toMetric).sort(byKey)
})

/** The tag that identifies one `createRun` call, so that a retry finds the run a lost response created. */
const CREATE_REQUEST_TAG = "autogen_team.create_request"

const MAX_HISTORY_PAGE = 25_000

// ---------------------------------------------------------------------------------------------------------------
// The store

/**
 * Opens the MLflow tracking server behind an `http(s)://` URI as a {@link TrackingStore}. Nothing is sent yet:
 * the first request is the first operation (the Mlflow service's experiment lookup at start), so an unreachable
 * server fails that operation within the retry budget.
 *
 * Credentials come from `options.credentials`, else from {@link credentialsConfig}, else from the URI's
 * `user:password@`. Requests go through `fetch` (Effect's `FetchHttpClient`).
 *
 * @example
 * ```ts
 * const store = yield* makeRestStore({ uri: "http://127.0.0.1:5000", retryBudget: "10 seconds" })
 * const experiment = yield* store.getOrCreateExperiment("tuning")
 * ```
 */
export const makeRestStore = (options: RestStoreOptions): Effect.Effect<TrackingStore, TrackingError> =>
  Effect.gen(function* () {
    const shown = displayUri(options.uri)
    const endpoint = parseEndpoint(options.uri)
    if (typeof endpoint === "string") {
      return yield* new TrackingError({ operation: "open", uri: shown, reason: endpoint })
    }
    const configured =
      options.credentials ??
      (yield* Effect.mapError(
        credentialsConfig,
        (error) => new TrackingError({ operation: "open", uri: shown, reason: error.message, cause: error })
      ))
    const credentials = configured._tag === "None" ? endpoint.userInfo : configured
    const client = yield* HttpClient.HttpClient
    return makeStore({
      client,
      endpoint: endpoint.base,
      shown,
      credentials,
      budgetMs: Duration.toMillis(Duration.fromInputUnsafe(options.retryBudget ?? defaultRetryBudget)),
      timeoutMs: Duration.toMillis(Duration.fromInputUnsafe(options.requestTimeout ?? defaultRequestTimeout))
    })
  }).pipe(Effect.provide(FetchHttpClient.layer))

interface StoreContext {
  readonly client: HttpClient.HttpClient
  readonly endpoint: URL
  readonly shown: string
  readonly credentials: RestCredentials
  readonly budgetMs: number
  readonly timeoutMs: number
}

/** One store operation in progress: its deadline, and how many attempts it has made. */
interface Operation {
  readonly name: string
  readonly start: number
  readonly deadline: number
  attempts: number
}

/** The least time left for an attempt: the final wait of a retry loop ends this long before the deadline. */
const LAST_ATTEMPT_MS = 100

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10} s`

const makeStore = (context: StoreContext): TrackingStore => {
  const { client, endpoint, shown, credentials, budgetMs, timeoutMs } = context
  const api = (path: string) => urlOf(endpoint, `api/2.0/mlflow/${path}`)

  const authorize = (request: HttpClientRequest.HttpClientRequest): HttpClientRequest.HttpClientRequest =>
    credentials._tag === "Bearer"
      ? HttpClientRequest.bearerToken(request, credentials.token)
      : credentials._tag === "Basic"
        ? HttpClientRequest.basicAuth(request, credentials.username, credentials.password)
        : request

  const toRequest = (call: Call): HttpClientRequest.HttpClientRequest => {
    const request = HttpClientRequest.make(call.method)(call.url, {
      urlParams: call.query ?? {},
      acceptJson: true
    })
    const withBody =
      call.json !== undefined
        ? HttpClientRequest.bodyJsonUnsafe(request, call.json)
        : call.bytes !== undefined
          ? HttpClientRequest.bodyUint8Array(request, call.bytes, "application/octet-stream")
          : request
    return authorize(withBody)
  }

  /** Sends one attempt of `call`, bounded by the request timeout and what is left of the operation's budget. */
  const attempt = (operation: Operation, call: Call): Effect.Effect<Answer, AttemptFailure> =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      operation.attempts++
      const limit = Math.max(1, Math.min(timeoutMs, operation.deadline - now))
      const exchange = Effect.gen(function* () {
        const response = yield* client.execute(toRequest(call))
        const body = new Uint8Array(yield* response.arrayBuffer)
        return { response, body }
      }).pipe(Effect.mapError((error) => transportFailure(error.reason.cause ?? error)))
      const { response, body } = yield* Effect.timeoutOrElse(exchange, {
        duration: Duration.millis(limit),
        orElse: () =>
          Effect.fail(
            attemptFailure({
              reason:
                limit < timeoutMs
                  ? `no response within the ${seconds(limit)} left of the retry budget`
                  : `no response within ${seconds(limit)} (mlflow_service.request_timeout)`,
              retryable: true,
              mayHaveReached: true
            })
          )
      })
      if (response.status >= 200 && response.status < 300) return { status: response.status, body }
      const after = retryAfterMillis(response.headers["retry-after"], yield* Clock.currentTimeMillis)
      return yield* Effect.fail(statusFailure(response.status, decoder.decode(body), after))
    })

  /**
   * Repeats `once` while it fails retryably, with jittered exponential backoff (at least the server's
   * `Retry-After`), as long as the operation's deadline allows: the last wait is cut short so that a final
   * attempt still happens just before the deadline, and a `Retry-After` beyond the deadline ends the retries.
   */
  const retried = <A>(operation: Operation, once: Effect.Effect<A, AttemptFailure>): Effect.Effect<A, AttemptFailure> =>
    Effect.retry(
      once,
      Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("2 seconds")]).pipe(
        Schedule.jittered,
        Schedule.setInputType<AttemptFailure>(),
        Schedule.modifyDelay(({ input, now, duration }) =>
          Effect.succeed(
            Math.min(
              Math.max(Duration.toMillis(duration), input.retryAfterMs ?? 0),
              operation.deadline - now - LAST_ATTEMPT_MS
            )
          )
        ),
        Schedule.while(
          ({ input, now, duration }) =>
            input.retryable &&
            Duration.toMillis(duration) >= 0 &&
            now + (input.retryAfterMs ?? 0) < operation.deadline - LAST_ATTEMPT_MS
        )
      )
    )

  const request = <A>(
    operation: Operation,
    call: Call,
    decode: (answer: Answer) => Effect.Effect<A, AttemptFailure>
  ): Effect.Effect<A, AttemptFailure> => retried(operation, Effect.flatMap(attempt(operation, call), decode))

  /** Runs a store operation within the budget, turning its final failure into a {@link TrackingError}. */
  const operate = <A>(
    name: string,
    body: (operation: Operation) => Effect.Effect<A, AttemptFailure | TrackingError>
  ): Effect.Effect<A, TrackingError> =>
    Effect.flatMap(Clock.currentTimeMillis, (start) => {
      const operation: Operation = { name, start, deadline: start + budgetMs, attempts: 0 }
      return Effect.catch(body(operation), (failure) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          if (failure._tag === "TrackingError") return Effect.fail(failure)
          const asked =
            failure.retryAfterMs === undefined ? "" : ` (it asked to retry after ${seconds(failure.retryAfterMs)})`
          const reason =
            failure.retryable && operation.attempts > 0
              ? `${failure.reason}${asked}; still failing after ${operation.attempts} ` +
                `attempt${operation.attempts === 1 ? "" : "s"} over ${seconds(now - start)}, the retry budget ` +
                `(mlflow_service.retry_budget: ${seconds(budgetMs)})`
              : failure.reason
          return Effect.fail(new TrackingError({ operation: name, uri: shown, reason, cause: failure.cause }))
        })
      )
    })

  const refuse = (operation: string, reason: string) =>
    Effect.fail(new TrackingError({ operation, uri: shown, reason }))

  // -------------------------------------------------------------------------------------------------------------
  // Experiments

  const experimentByName = (operation: Operation, name: string) =>
    request(
      operation,
      { method: "GET", url: api("experiments/get-by-name"), query: { experiment_name: name } },
      answers.experiment
    ).pipe(
      Effect.map((response) => Option.some(toExperiment(response.experiment))),
      Effect.catch((failure) =>
        failure.errorCode === "RESOURCE_DOES_NOT_EXIST" ? Effect.succeed(Option.none()) : Effect.fail(failure)
      )
    )

  const getOrCreateExperiment = (name: string) =>
    operate("getOrCreateExperiment", (operation) =>
      Effect.gen(function* () {
        if (name.trim() === "") return yield* refuse(operation.name, "the experiment name is empty")
        let experiment = yield* experimentByName(operation, name)
        if (Option.isNone(experiment)) {
          // A repeat of this create, or another process creating the same name first, is answered
          // RESOURCE_ALREADY_EXISTS: either way the experiment now exists, so it is read by name.
          const created = yield* request(
            operation,
            { method: "POST", url: api("experiments/create"), json: { name } },
            answers.createdExperiment
          ).pipe(
            Effect.map((response) => Option.some(response.experiment_id)),
            Effect.catch((failure) =>
              failure.errorCode === "RESOURCE_ALREADY_EXISTS" ? Effect.succeed(Option.none()) : Effect.fail(failure)
            )
          )
          experiment = Option.isSome(created)
            ? Option.some(
                toExperiment(
                  (yield* request(
                    operation,
                    { method: "GET", url: api("experiments/get"), query: { experiment_id: created.value } },
                    answers.experiment
                  )).experiment
                )
              )
            : yield* experimentByName(operation, name)
        }
        if (Option.isNone(experiment)) {
          return yield* refuse(operation.name, `experiment ${JSON.stringify(name)} vanished while it was created`)
        }
        if (experiment.value.lifecycleStage !== "active") {
          return yield* refuse(
            operation.name,
            `experiment ${JSON.stringify(name)} (id ${experiment.value.experimentId}) is deleted; restore it ` +
              "(mlflow experiments restore) or delete it permanently (mlflow gc) before reusing the name"
          )
        }
        return experiment.value
      })
    )

  // -------------------------------------------------------------------------------------------------------------
  // Runs

  const createRun = (input: CreateRunInput) =>
    operate("createRun", (operation) =>
      Effect.gen(function* () {
        const requestId = randomUUID().replaceAll("-", "")
        const create = Effect.flatMap(
          attempt(operation, {
            method: "POST",
            url: api("runs/create"),
            json: {
              experiment_id: input.experimentId,
              user_id: input.userId,
              run_name: input.runName,
              start_time: input.startTime,
              tags: [...input.tags, { key: CREATE_REQUEST_TAG, value: requestId }]
            }
          }),
          answers.run
        ).pipe(Effect.map((response) => response.run))
        const findCreated = Effect.flatMap(
          attempt(operation, {
            method: "POST",
            url: api("runs/search"),
            json: {
              experiment_ids: [input.experimentId],
              filter: `tags.\`${CREATE_REQUEST_TAG}\` = '${requestId}'`,
              run_view_type: "ALL",
              max_results: 1
            }
          }),
          answers.searchRuns
        ).pipe(Effect.map((response) => Option.fromNullishOr(response.runs?.[0])))
        // After an attempt the server may have acted on, the next one first looks for the run it would have made.
        let mayExist = false
        const once = Effect.suspend(() =>
          mayExist
            ? Effect.flatMap(findCreated, (found) => (Option.isSome(found) ? Effect.succeed(found.value) : create))
            : create
        ).pipe(
          Effect.tapError((failure) =>
            Effect.sync(() => {
              if (failure.mayHaveReached) mayExist = true
            })
          )
        )
        const run = yield* retried(operation, once)
        // The request tag has done its work; a failure to remove it leaves one harmless tag behind.
        yield* Effect.ignore(
          request(
            operation,
            { method: "POST", url: api("runs/delete-tag"), json: { run_id: run.info.run_id, key: CREATE_REQUEST_TAG } },
            answers.empty
          )
        )
        return toRunInfo(run.info)
      })
    )

  const logBatch = (runId: string, batch: LogBatch) =>
    operate("logBatch", (operation) =>
      Effect.gen(function* () {
        const problem = validateBatch(batch)
        if (problem) return yield* refuse(operation.name, problem.message)
        for (const chunk of chunkBatch(batch)) {
          yield* request(
            operation,
            {
              method: "POST",
              url: api("runs/log-batch"),
              json: {
                run_id: runId,
                metrics: (chunk.metrics ?? []).map(fromMetric),
                params: chunk.params ?? [],
                tags: chunk.tags ?? []
              }
            },
            answers.empty
          )
        }
      })
    )

  const endRun = (runId: string, status: RunStatus, endTime: number) =>
    operate("endRun", (operation) =>
      Effect.asVoid(
        request(
          operation,
          { method: "POST", url: api("runs/update"), json: { run_id: runId, status, end_time: endTime } },
          answers.empty
        )
      )
    )

  const getRun = (runId: string) =>
    operate("getRun", (operation) =>
      Effect.map(
        request(operation, { method: "GET", url: api("runs/get"), query: { run_id: runId } }, answers.run),
        (response) => toRunData(response.run)
      )
    )

  const getMetricHistory = (runId: string, key: string) =>
    operate("getMetricHistory", (operation) =>
      Effect.gen(function* () {
        const points: Array<Metric> = []
        let pageToken: string | undefined
        do {
          const page = yield* request(
            operation,
            {
              method: "GET",
              url: api("metrics/get-history"),
              query: {
                run_id: runId,
                metric_key: key,
                max_results: String(MAX_HISTORY_PAGE),
                ...(pageToken === undefined ? {} : { page_token: pageToken })
              }
            },
            answers.metricHistory
          )
          for (const metric of page.metrics ?? []) points.push(toMetric(metric))
          pageToken = page.next_page_token || undefined
        } while (pageToken !== undefined)
        return points.sort(byStepTimestampValue)
      })
    )

  // -------------------------------------------------------------------------------------------------------------
  // Artifacts, through the server's proxy: `mlflow-artifacts:/<path>` is `<server>/api/2.0/mlflow-artifacts/
  // artifacts/<path>` (MLflow's MlflowArtifactsRepository.resolve_uri), on the host the URI names if it names one.

  const artifactRoot = (
    operation: string,
    run: RunInfo
  ): Effect.Effect<{ base: URL; root: ReadonlyArray<string> }, TrackingError> => {
    const match = /^mlflow-artifacts:(\/\/([^/]*))?(\/.*)?$/.exec(run.artifactUri)
    if (match === null) {
      return refuse(
        operation,
        `the run's artifact location ${JSON.stringify(run.artifactUri)} is not served by the tracking server; ` +
          "this store writes artifacts through the server's artifact proxy (mlflow server's default, " +
          "--serve-artifacts, with --artifacts-destination for the storage)"
      )
    }
    const base = new URL(endpoint.href)
    if (match[2] !== undefined && match[2] !== "") base.host = match[2]
    return Effect.succeed({ base, root: (match[3] ?? "").split("/").filter((segment) => segment !== "") })
  }

  const artifactSegments = (operation: string, artifactPath: string) => {
    const segments = artifactPathSegments(artifactPath)
    return segments instanceof MlflowValidationError ? refuse(operation, segments.message) : Effect.succeed(segments)
  }

  const artifactUrl = (base: URL, root: ReadonlyArray<string>, segments: ReadonlyArray<string>) =>
    urlOf(base, "api/2.0/mlflow-artifacts/artifacts", ...root, ...segments)

  const putArtifact: TrackingStore["putArtifact"] = (run, artifactPath, source) =>
    operate("putArtifact", (operation) =>
      Effect.gen(function* () {
        const { base, root } = yield* artifactRoot(operation.name, run)
        const segments = yield* artifactSegments(operation.name, artifactPath)
        const bytes =
          source._tag === "Bytes"
            ? source.bytes
            : yield* Effect.tryPromise({
                try: async () => new Uint8Array(await readFile(source.path)),
                catch: (cause) =>
                  new TrackingError({
                    operation: operation.name,
                    uri: shown,
                    reason: `cannot read ${source.path}: ${cause instanceof Error ? cause.message : String(cause)}`,
                    cause
                  })
              })
        yield* retried(operation, attempt(operation, { method: "PUT", url: artifactUrl(base, root, segments), bytes }))
      })
    )

  const getArtifact: TrackingStore["getArtifact"] = (run, artifactPath) =>
    operate("getArtifact", (operation) =>
      Effect.gen(function* () {
        const { base, root } = yield* artifactRoot(operation.name, run)
        const segments = yield* artifactSegments(operation.name, artifactPath)
        const answer = yield* retried(
          operation,
          attempt(operation, { method: "GET", url: artifactUrl(base, root, segments) })
        )
        return answer.body
      })
    )

  const listArtifacts = (run: RunInfo) =>
    operate("listArtifacts", (operation) =>
      Effect.gen(function* () {
        const { base, root } = yield* artifactRoot(operation.name, run)
        const entries: Array<ArtifactEntry> = []
        const walk = (relative: string): Effect.Effect<void, AttemptFailure> =>
          Effect.gen(function* () {
            const listing = yield* request(
              operation,
              {
                method: "GET",
                url: urlOf(base, "api/2.0/mlflow-artifacts/artifacts"),
                query: { path: [...root, ...(relative === "" ? [] : [relative])].join("/") }
              },
              answers.artifactList
            )
            const files = [...(listing.files ?? [])].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
            for (const file of files) {
              const name = file.path.split("/").at(-1) ?? file.path
              const entryPath = relative === "" ? name : `${relative}/${name}`
              if (file.is_dir === true) {
                entries.push({ path: entryPath, isDir: true, fileSize: null })
                yield* walk(entryPath)
              } else {
                entries.push({ path: entryPath, isDir: false, fileSize: file.file_size ?? null })
              }
            }
          })
        yield* walk("")
        return entries
      })
    )

  return {
    uri: shown,
    getOrCreateExperiment,
    createRun,
    logBatch,
    endRun,
    putArtifact,
    getRun,
    getMetricHistory,
    getArtifact,
    listArtifacts
  }
}
