import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { afterAll } from "vitest"
import { currentUser, gitCommit, sourceTags } from "../../src/tracking/context.js"

const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "autogen-context-")))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

// A git isolated from the machine's configuration, so it behaves the same on CI and on a laptop.
const gitEnv: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: root,
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: path.join(root, "no-global-gitconfig"),
  LANG: "C"
}
const git = (cwd: string, ...args: ReadonlyArray<string>): string => {
  const result = spawnSync(
    "git",
    [
      "-c",
      "user.name=Autogen Test",
      "-c",
      "user.email=autogen@example.com",
      "-c",
      "commit.gpgsign=false",
      "-c",
      "init.defaultBranch=main",
      ...args
    ],
    { cwd, env: gitEnv, encoding: "utf8" }
  )
  if (result.status !== 0) throw new Error(`git ${args.join(" ")} failed in ${cwd}: ${result.stderr}`)
  return result.stdout.trim()
}
/** `git rev-parse HEAD` in `cwd`, or undefined when git finds no commit there. */
const revParse = (cwd: string): string | undefined => {
  const result = spawnSync("git", ["rev-parse", "--verify", "-q", "HEAD"], { cwd, env: gitEnv, encoding: "utf8" })
  return result.status === 0 ? result.stdout.trim() : undefined
}
const inAnyRepo = (cwd: string): boolean =>
  spawnSync("git", ["rev-parse", "--git-dir"], { cwd, env: gitEnv, stdio: "ignore" }).status === 0

let counter = 0
/** A fresh repository with `commits` commits, each changing file.txt. */
const makeRepo = (commits: number): string => {
  const dir = path.join(root, `repo-${++counter}`)
  fs.mkdirSync(dir)
  git(dir, "init", "-q")
  for (let i = 0; i < commits; i++) {
    fs.writeFileSync(path.join(dir, "file.txt"), `version ${i}\n`)
    git(dir, "add", "file.txt")
    git(dir, "commit", "-q", "-m", `commit ${i}`)
  }
  return dir
}

const tmpInRepo = inAnyRepo(root)

describe("gitCommit", () => {
  it.effect("in a fresh repository: the commit of HEAD, as `git rev-parse HEAD` says", () =>
    Effect.sync(() => {
      const repo = makeRepo(2)
      const head = revParse(repo)
      expect(head).toMatch(/^[0-9a-f]{40}$/)
      assert.strictEqual(gitCommit(repo), head)
      assert.isTrue(fs.existsSync(path.join(repo, ".git", "refs", "heads", "main")))
    })
  )

  it.effect("on a detached HEAD: the checked-out commit, not the branch tip", () =>
    Effect.sync(() => {
      const repo = makeRepo(3)
      const tip = revParse(repo)
      const first = git(repo, "rev-list", "--max-parents=0", "HEAD")
      git(repo, "checkout", "-q", "--detach", first)
      assert.strictEqual(revParse(repo), first)
      assert.notStrictEqual(first, tip)
      assert.strictEqual(gitCommit(repo), first)
    })
  )

  it.effect("with packed refs (`git pack-refs --all`): read from packed-refs", () =>
    Effect.sync(() => {
      const repo = makeRepo(2)
      git(repo, "tag", "-a", "v1", "-m", "annotated, so packed-refs has a peeled line")
      git(repo, "pack-refs", "--all")
      assert.isFalse(fs.existsSync(path.join(repo, ".git", "refs", "heads", "main")))
      expect(fs.readFileSync(path.join(repo, ".git", "packed-refs"), "utf8")).toContain("refs/heads/main")
      assert.strictEqual(gitCommit(repo), revParse(repo))
    })
  )

  it.effect("in a subdirectory of the repository", () =>
    Effect.sync(() => {
      const repo = makeRepo(1)
      const sub = path.join(repo, "src", "deep", "er")
      fs.mkdirSync(sub, { recursive: true })
      assert.strictEqual(gitCommit(sub), revParse(repo))
    })
  )

  it.effect("in a linked worktree (a `.git` file) on its own branch, loose and packed", () =>
    Effect.sync(() => {
      const repo = makeRepo(1)
      const worktree = path.join(root, `worktree-${++counter}`)
      git(repo, "worktree", "add", "-q", "-b", "feature", worktree)
      fs.writeFileSync(path.join(worktree, "feature.txt"), "feature\n")
      git(worktree, "add", "feature.txt")
      git(worktree, "commit", "-q", "-m", "feature work")
      assert.isTrue(fs.statSync(path.join(worktree, ".git")).isFile())
      const featureHead = revParse(worktree)
      assert.notStrictEqual(featureHead, revParse(repo))
      assert.strictEqual(gitCommit(worktree), featureHead)
      assert.strictEqual(gitCommit(repo), revParse(repo))
      git(repo, "pack-refs", "--all")
      assert.strictEqual(gitCommit(worktree), featureHead)
    })
  )

  it.effect("in a repository with no commit yet: undefined", () =>
    Effect.sync(() => {
      const repo = makeRepo(0)
      assert.isUndefined(revParse(repo))
      assert.isUndefined(gitCommit(repo))
    })
  )

  it.effect.skipIf(tmpInRepo)(
    tmpInRepo
      ? `outside any repository: undefined (skipped: ${root} is inside a git repository)`
      : "outside any repository (a temp dir): undefined",
    () =>
      Effect.sync(() => {
        const plain = path.join(root, `plain-${++counter}`)
        fs.mkdirSync(plain)
        assert.isFalse(inAnyRepo(plain))
        assert.isUndefined(gitCommit(plain))
      })
  )

  it.effect("a directory that does not exist, or a broken .git, is undefined rather than an error", () =>
    Effect.sync(() => {
      const broken = path.join(root, `broken-${++counter}`)
      fs.mkdirSync(path.join(broken, ".git"), { recursive: true })
      assert.isUndefined(gitCommit(broken))
      if (!tmpInRepo) assert.isUndefined(gitCommit(path.join(root, "does", "not", "exist")))
    })
  )
})

describe("sourceTags", () => {
  const asRecord = (tags: ReadonlyArray<{ readonly key: string; readonly value: string }>) =>
    Object.fromEntries(tags.map((tag) => [tag.key, tag.value]))

  it.effect("inside a repository: user, source name/type, git commit and host", () =>
    Effect.sync(() => {
      const repo = makeRepo(1)
      const tags = sourceTags(repo)
      const record = asRecord(tags)
      assert.lengthOf(tags, 5)
      assert.strictEqual(record["mlflow.user"], os.userInfo().username)
      assert.strictEqual(record["mlflow.user"], currentUser())
      assert.strictEqual(record["mlflow.source.name"], process.argv[1] ?? process.argv0)
      expect(record["mlflow.source.name"]?.length).toBeGreaterThan(0)
      assert.strictEqual(record["mlflow.source.type"], "LOCAL")
      assert.strictEqual(record["mlflow.source.git.commit"], revParse(repo))
      assert.strictEqual(record.host, os.hostname())
      for (const tag of tags) assert.typeOf(tag.value, "string")
    })
  )

  it.effect("without a commit: no mlflow.source.git.commit tag, the rest unchanged", () =>
    Effect.sync(() => {
      const repo = makeRepo(0)
      const tags = sourceTags(repo)
      assert.deepStrictEqual(
        tags.map((tag) => tag.key),
        ["mlflow.user", "mlflow.source.name", "mlflow.source.type", "host"]
      )
      if (!tmpInRepo) {
        const plain = path.join(root, `plain-${++counter}`)
        fs.mkdirSync(plain)
        assert.notInclude(
          sourceTags(plain).map((tag) => tag.key),
          "mlflow.source.git.commit"
        )
      }
    })
  )
})
