import { describe, expect, it } from "@effect/vitest"
import { decodePercentEscapes, retryAfterMillis, retryableStatus, truncate } from "../../src/internal/http.js"

describe("truncate", () => {
  it("keeps short texts, cuts long ones with an ellipsis, never splits a surrogate pair", () => {
    expect(truncate("short", 10)).toBe("short")
    expect(truncate("abcdefghij", 5)).toBe("abcd…")
    const emoji = `abc${"😀".repeat(3)}`
    const cut = truncate(emoji, 5)
    expect(cut.length).toBeLessThanOrEqual(5)
    expect(cut).toBe("abc…")
  })
})

describe("decodePercentEscapes", () => {
  it("decodes %xx escapes and keeps a malformed one as written", () => {
    expect(decodePercentEscapes("pa%20ss%3Aw%C3%B6rd")).toBe("pa ss:wörd")
    expect(decodePercentEscapes("100%")).toBe("100%")
  })
})

describe("retryAfterMillis", () => {
  it("reads delta-seconds and HTTP dates; anything else is no advice", () => {
    const now = Date.parse("2026-01-02T03:04:05Z")
    expect(retryAfterMillis("2", now)).toBe(2000)
    expect(retryAfterMillis(" 0.25 ", now)).toBe(250)
    expect(retryAfterMillis("Fri, 02 Jan 2026 03:04:15 GMT", now)).toBe(10_000)
    expect(retryAfterMillis("Fri, 02 Jan 2026 03:04:00 GMT", now)).toBe(0)
    expect(retryAfterMillis("soon", now)).toBeUndefined()
    expect(retryAfterMillis(undefined, now)).toBeUndefined()
  })
})

describe("retryableStatus", () => {
  it("408, 429 and 5xx may change on a retry; other refusals do not", () => {
    expect([408, 429, 500, 502, 503, 504].map(retryableStatus)).toEqual([true, true, true, true, true, true])
    expect([400, 401, 403, 404, 409, 422].map(retryableStatus)).toEqual([false, false, false, false, false, false])
  })
})
