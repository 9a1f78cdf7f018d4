import { describe, expect, it } from "@effect/vitest"
import { isInMemorySqliteUri, sqliteLocation } from "../../src/tracking/sqlite-uri.js"

describe("sqliteLocation", () => {
  it("three slashes then the path: relative to cwd, or absolute; %-escapes decoded, the query ignored", () => {
    expect(sqliteLocation("sqlite:///mlflow.db", "/work")).toEqual({ _tag: "File", path: "/work/mlflow.db" })
    expect(sqliteLocation("sqlite:////tmp/x.db", "/work")).toEqual({ _tag: "File", path: "/tmp/x.db" })
    expect(sqliteLocation("sqlite:///a%20b.db?timeout=3", "/w")).toEqual({ _tag: "File", path: "/w/a b.db" })
  })

  it("sqlite://, sqlite:/// and :memory: are in memory", () => {
    for (const uri of ["sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite:///%3Amemory%3A"]) {
      expect(sqliteLocation(uri)).toEqual({ _tag: "Memory" })
    }
  })

  it("says why a URI is not one", () => {
    expect(sqliteLocation("sqlite:/a.db")).toBe(
      "not a SQLite tracking URI; expected sqlite:///relative/path.db or sqlite:////absolute/path.db"
    )
    expect(sqliteLocation("sqlite:///a%zz.db")).toBe('the path "a%zz.db" has an invalid %-escape')
  })
})

describe("isInMemorySqliteUri", () => {
  it("true only for an in-memory SQLite database", () => {
    expect(isInMemorySqliteUri("sqlite:///:memory:")).toBe(true)
    expect(isInMemorySqliteUri("sqlite://")).toBe(true)
    expect(isInMemorySqliteUri("sqlite:///mlflow.db")).toBe(false)
    expect(isInMemorySqliteUri("memory://")).toBe(false)
    expect(isInMemorySqliteUri("http://127.0.0.1:5000")).toBe(false)
    expect(isInMemorySqliteUri("sqlite:/broken")).toBe(false)
  })
})
