/**
 * Small HTTP helpers shared by the REST tracking store and the webhook alert channels. Dependency-free on
 * purpose: both of those modules load lazily, and this one must not pull anything in with them.
 *
 * @module
 */

/** Cuts `text` to `max` characters, ending with `…` when it was cut, without splitting a surrogate pair. */
export const truncate = (text: string, max: number): string => {
  if (text.length <= max) return text
  let cut = text.slice(0, Math.max(0, max - 1))
  const last = cut.charCodeAt(cut.length - 1)
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1)
  return `${cut}…`
}

/** `%xx` escapes decoded, as in a URI's user info or path; a malformed escape is kept as written. */
export const decodePercentEscapes = (text: string): string => {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

/** A `Retry-After` header as milliseconds from `now`: delta-seconds or an HTTP date; `undefined` if neither. */
export const retryAfterMillis = (header: string | undefined, now: number): number | undefined => {
  if (header === undefined) return undefined
  const trimmed = header.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000)
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * Whether an HTTP status may change on a retry: 408, 429 and 5xx (busy, restarting, briefly unreachable).
 * Any other refusal (a bad request, missing credentials, a revoked webhook) will not.
 */
export const retryableStatus = (status: number): boolean => status === 408 || status === 429 || status >= 500
