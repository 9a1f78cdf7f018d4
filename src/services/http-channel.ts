/**
 * Delivery of webhook alerts over HTTP: one JSON POST with bounded retry, and failures described without a
 * trace of the secrets (URL, header values). Loaded on demand by {@link httpChannel}, so that jobs without
 * webhook channels — and the CLI's startup — do not load Effect's HTTP client.
 *
 * Uses Effect's `HttpClient` over the platform's `fetch` (`FetchHttpClient`), with tracing off: no span
 * records the URL, and no `traceparent` / `b3` header goes to a third party.
 *
 * @module
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FetchHttpClient from "effect/http/FetchHttpClient"
import * as HttpClient from "effect/http/HttpClient"
import type * as HttpClientError from "effect/http/HttpClientError"
import * as HttpClientRequest from "effect/http/HttpClientRequest"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import { decodePercentEscapes, retryAfterMillis, retryableStatus, truncate } from "../internal/http.js"
import { type Alert, AlertError, type HttpChannelOptions, httpRetries, httpRetryBase } from "./alerts.js"

/** One failed attempt: why (already free of secrets), whether another may help, and how long to wait first. */
interface AttemptFailure {
  readonly reason: string
  readonly retryable: boolean
  readonly retryAfter?: Duration.Duration | undefined
}

/** How much of an error answer's body a warning quotes. */
const bodyExcerptLength = 200

/** Longest `Retry-After` honoured at all, whatever the timeout; a server asking for more is not retried. */
const maxRetryAfter = Duration.seconds(60)

/**
 * The texts that must never appear in a message: the URL in its given and normalized forms, its path and
 * query (where webhook services put their tokens), each longer path segment and query value on its own
 * (a server may echo one), and the header values. Longest first, so a part never hides a longer whole.
 */
export const secretsOf = (
  url: string,
  headers: Readonly<Record<string, Redacted.Redacted<string>>> = {}
): ReadonlyArray<string> => {
  const secrets = new Set<string>([url])
  try {
    const parsed = new URL(url)
    secrets.add(parsed.href)
    secrets.add(`${parsed.pathname}${parsed.search}`)
    for (const segment of parsed.pathname.split("/")) {
      secrets.add(segment)
      secrets.add(decodePercentEscapes(segment))
    }
    for (const [, value] of parsed.searchParams) secrets.add(value)
    if (parsed.search.length > 1) secrets.add(parsed.search.slice(1))
  } catch {
    // Not a URL: only the whole text is known to be secret.
  }
  for (const value of Object.values(headers)) {
    const text = Redacted.value(value)
    secrets.add(text)
    // `Bearer <token>`: the token may be quoted alone.
    for (const word of text.split(/\s+/)) secrets.add(word)
  }
  // Short parts ("/", "api", "hooks") are not secrets, and replacing them would garble every message.
  return [...secrets].filter((secret) => secret.length >= 6).sort((a, b) => b.length - a.length)
}

/** `text` with every secret replaced by `<redacted>`. */
export const scrub = (text: string, secrets: ReadonlyArray<string>): string =>
  secrets.reduce((result, secret) => result.replaceAll(secret, "<redacted>"), text)

// The transport error's own message names the method and URL; what it is about is in the fetch error's cause.
const transportReason = (error: HttpClientError.HttpClientError): string => {
  const cause = error.reason.cause
  const inner = cause instanceof Error && cause.cause !== undefined ? cause.cause : cause
  const code = typeof inner === "object" && inner !== null && "code" in inner ? String(inner.code) : undefined
  const message = inner instanceof Error ? inner.message : undefined
  if (error.reason._tag === "InvalidUrlError") return "invalid URL"
  if (error.reason._tag === "EncodeError") return "the alert could not be encoded as JSON"
  return `request failed: ${code ?? message ?? error.reason.description ?? "connection error"}`
}

/** One POST of the request; succeeds on a 2xx answer. */
const attempt = (
  client: HttpClient.HttpClient,
  request: HttpClientRequest.HttpClientRequest,
  secrets: ReadonlyArray<string>
): Effect.Effect<void, AttemptFailure> =>
  client.execute(request).pipe(
    Effect.mapError((error): AttemptFailure => ({ reason: scrub(transportReason(error), secrets), retryable: true })),
    Effect.flatMap((response) =>
      // The body is read in every case, so the connection is released; its start explains a refusal.
      response.text.pipe(
        Effect.orElseSucceed(() => ""),
        Effect.flatMap((text) => {
          if (response.status >= 200 && response.status < 300) return Effect.void
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const retryAfter = retryAfterMillis(response.headers["retry-after"], now)
            const excerpt = text.trim().replace(/\s+/g, " ")
            const detail = excerpt === "" ? "" : `: ${truncate(excerpt, bodyExcerptLength + 1)}`
            return Effect.fail<AttemptFailure>({
              reason: scrub(`HTTP ${response.status}${detail}`, secrets),
              retryable: retryableStatus(response.status),
              retryAfter: retryAfter === undefined ? undefined : Duration.millis(retryAfter)
            })
          })
        })
      )
    )
  )

/**
 * POSTs `options.payload(alert)` to `options.url` as JSON, retrying transient failures (connection errors,
 * 408, 429, 5xx) up to {@link httpRetries} times with jittered exponential backoff from
 * {@link httpRetryBase}, waiting at least what `Retry-After` asks — unless that would not fit in
 * `options.timeout`. Fails with an {@link AlertError} naming the channel, the last status or connection
 * error and the number of attempts, never the URL or a header value.
 */
export const postAlert = (options: HttpChannelOptions, alert: Alert): Effect.Effect<void, AlertError> => {
  const url = Redacted.value(options.url)
  const headers = options.headers ?? {}
  const secrets = secretsOf(url, headers)
  const budget = Duration.seconds(options.timeout ?? 5)
  return Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const request = HttpClientRequest.post(url).pipe(
      HttpClientRequest.bodyJsonUnsafe(options.payload(alert)),
      HttpClientRequest.setHeaders(
        Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Redacted.value(value)]))
      )
    )
    const started = yield* Clock.currentTimeMillis
    let attempts = 0
    const schedule = Schedule.exponential(httpRetryBase, 2).pipe(
      Schedule.jittered,
      Schedule.modifyDelay(({ duration, input }: Schedule.Metadata<Duration.Duration, AttemptFailure>) =>
        Effect.succeed(input.retryAfter === undefined ? duration : Duration.max(duration, input.retryAfter))
      )
    )
    yield* Effect.suspend(() => {
      attempts++
      return attempt(client, request, secrets)
    }).pipe(
      Effect.retry({
        schedule,
        times: httpRetries,
        while: (failure) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            // A Retry-After past the budget: the alert would be abandoned before the retry anyway.
            const remaining = Duration.toMillis(budget) - (now - started)
            const retry =
              attempts <= httpRetries &&
              failure.retryable &&
              (failure.retryAfter === undefined ||
                (Duration.isLessThanOrEqualTo(failure.retryAfter, maxRetryAfter) &&
                  Duration.toMillis(failure.retryAfter) < remaining))
            return retry
              ? Effect.as(
                  Effect.logDebug(
                    `alert channel ${options.name}: attempt ${attempts} failed (${failure.reason}); retrying`
                  ),
                  true
                )
              : Effect.succeed(false)
          })
      }),
      Effect.mapError(
        (failure) =>
          new AlertError({
            channel: options.name,
            reason: `${failure.reason} (${attempts} ${attempts === 1 ? "attempt" : "attempts"})`
          })
      )
    )
  }).pipe(
    Effect.provide(FetchHttpClient.layer),
    Effect.provideService(HttpClient.TracerDisabledWhen, () => true),
    // Whatever else goes wrong is this channel failing, described without the secrets.
    Effect.catchDefect((defect) =>
      Effect.fail(
        new AlertError({
          channel: options.name,
          reason: scrub(`crashed: ${defect instanceof Error ? defect.message : String(defect)}`, secrets)
        })
      )
    )
  )
}
