/**
 * What a `sqlite:` tracking URI points at, read the way MLflow (through SQLAlchemy) reads it. A module of its
 * own, free of the SQLite driver, so that messages saying where a run is can use the same rule as the store.
 *
 * @module
 */
import * as path from "node:path"

/** Where a `sqlite:` tracking URI points: a file (absolute path) or a private in-memory database. */
export type SqliteLocation = { readonly _tag: "File"; readonly path: string } | { readonly _tag: "Memory" }

/**
 * Reads a `sqlite:` tracking URI: three slashes then the path, so `sqlite:///a.db` is relative to `cwd` and
 * `sqlite:////tmp/a.db` absolute; `%xx` escapes are decoded and a `?query` is ignored. `sqlite://`,
 * `sqlite:///` and `sqlite:///:memory:` denote an in-memory database. Returns why, as a string, when `uri` is
 * not such a URI.
 */
export const sqliteLocation = (uri: string, cwd: string = process.cwd()): SqliteLocation | string => {
  if (uri === "sqlite://") return { _tag: "Memory" }
  if (!uri.startsWith("sqlite:///")) {
    return "not a SQLite tracking URI; expected sqlite:///relative/path.db or sqlite:////absolute/path.db"
  }
  const raw = uri.slice("sqlite:///".length).split("?")[0] ?? ""
  let decoded: string
  try {
    decoded = decodeURIComponent(raw)
  } catch {
    return `the path ${JSON.stringify(raw)} has an invalid %-escape`
  }
  if (decoded === "" || decoded === ":memory:") return { _tag: "Memory" }
  return { _tag: "File", path: path.resolve(cwd, decoded) }
}

/** Whether `uri` is a `sqlite:` URI of an in-memory database, which keeps nothing once its process ends. */
export const isInMemorySqliteUri = (uri: string): boolean => {
  const location = sqliteLocation(uri)
  return typeof location !== "string" && location._tag === "Memory"
}
