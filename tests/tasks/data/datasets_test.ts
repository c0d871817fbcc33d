import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../../../core/errors.ts";
import { loadSplit, type SplitSource } from "../../../tasks/data/datasets.ts";
import { downloadFile, hubFileUrl } from "../../../tasks/data/hub.ts";
import { readMeta } from "../../../tasks/data/locate.ts";
import type { DataFileRecord } from "../../../core/tasks.ts";
import { tempDir, writeParquet } from "../_fixtures.ts";

const REPO = "example-org/tiny_qa";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const ROWS = [{ question: "Two plus two?", answer: 4 }, { question: "Sky color?", answer: 7 }];

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A stand-in for the hub: `resolve` redirects to a CDN path (naming the commit), which honours Range. */
function fakeHub(files: Record<string, Uint8Array>, opts: { ignoreRange?: boolean } = {}) {
  const seen: { path: string; range: string | null }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    seen.push({ path: url.pathname, range: req.headers.get("range") });
    const resolve = url.pathname.match(/^\/datasets\/[^/]+\/[^/]+\/resolve\/[^/]+\/(.+)$/);
    if (resolve) {
      if (!(decodeURIComponent(resolve[1]) in files)) return new Response("not found", { status: 404 });
      return new Response(null, {
        status: 302,
        headers: { location: `/cdn/${resolve[1]}`, "x-repo-commit": COMMIT },
      });
    }
    const body = files[decodeURIComponent(url.pathname.replace(/^\/cdn\//, ""))];
    if (!body) return new Response("not found", { status: 404 });
    const range = req.headers.get("range")?.match(/^bytes=(\d+)-$/);
    if (range && !opts.ignoreRange) {
      const start = Number(range[1]);
      if (start >= body.length) {
        return new Response(null, { status: 416, headers: { "content-range": `bytes */${body.length}` } });
      }
      return new Response(new Uint8Array(body.slice(start)), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` },
      });
    }
    return new Response(new Uint8Array(body), { status: 200 });
  });
  const endpoint = `http://127.0.0.1:${server.addr.port}`;
  return { endpoint, seen, close: () => server.shutdown() };
}

async function parquetBytes(): Promise<Uint8Array> {
  const dir = tempDir();
  return Deno.readFileSync(await writeParquet(dir, REPO, "data/test-00000-of-00001.parquet", ROWS));
}

const SOURCE: SplitSource = {
  repo: REPO,
  revision: "main",
  split: "test",
  files: [{ path: "data/test-00000-of-00001.parquet", format: "parquet" }],
};

Deno.test("loadSplit() reads --data-dir first and reports the file with its sha256", async () => {
  const dir = tempDir();
  const bytes = await parquetBytes();
  mkdirSync(join(dir, "example-org", "tiny_qa", "data"), { recursive: true });
  writeFileSync(join(dir, "example-org", "tiny_qa", "data", "test-00000-of-00001.parquet"), bytes);
  const seen: DataFileRecord[] = [];
  const got = await loadSplit(SOURCE, {
    task: "tiny",
    ctx: { dataDir: dir, download: false, onDataFile: (f) => seen.push(f) },
    hfHubCache: null,
  });
  assert.deepEqual(got.rows, ROWS);
  assert.equal(got.record.origin, "data-dir");
  assert.equal(got.record.sha256, sha256(bytes));
  assert.equal(got.record.bytes, bytes.length);
  assert.deepEqual(seen, [got.record]);
});

Deno.test("loadSplit() reads a huggingface_hub cache snapshot through refs/<revision>", async () => {
  const cache = tempDir();
  const repoDir = join(cache, "datasets--example-org--tiny_qa");
  mkdirSync(join(repoDir, "refs"), { recursive: true });
  writeFileSync(join(repoDir, "refs", "main"), COMMIT);
  mkdirSync(join(repoDir, "snapshots", COMMIT, "data"), { recursive: true });
  writeFileSync(
    join(repoDir, "snapshots", COMMIT, "data", "test-00000-of-00001.parquet"),
    await parquetBytes(),
  );
  const got = await loadSplit(SOURCE, {
    task: "tiny",
    ctx: { download: false },
    hfHubCache: cache,
    kvbenchCache: tempDir(),
  });
  assert.equal(got.record.origin, "hf-cache");
  assert.equal(got.record.commit, COMMIT);
  assert.equal(got.rows.length, 2);
});

Deno.test("loadSplit() names the exact file, where to put it and a command to fetch it when offline", async () => {
  const dir = tempDir();
  const error = await loadSplit(SOURCE, {
    task: "tiny",
    ctx: { dataDir: dir, download: false },
    hfHubCache: null,
  })
    .then(() => null, (e) => e);
  assert.ok(error instanceof UserError);
  const expected = join(dir, "example-org", "tiny_qa", "data", "test-00000-of-00001.parquet");
  assert.equal(
    error.message,
    "Cannot load tiny (example-org/tiny_qa, split test) as example-org/tiny_qa/data/test-00000-of-00001.parquet " +
      `is missing and downloads are off: put it at ${expected}, e.g. curl -L --create-dirs -o '${expected}' ` +
      "'https://huggingface.co/datasets/example-org/tiny_qa/resolve/main/data/test-00000-of-00001.parquet'",
  );
  assert.ok(!error.message.includes("\n"));
});

Deno.test("loadSplit() downloads into kvbench's cache, records the commit, then reuses the copy", async () => {
  const bytes = await parquetBytes();
  const hub = fakeHub({ "data/test-00000-of-00001.parquet": bytes });
  try {
    const cache = tempDir();
    const options = {
      task: "tiny",
      hfHubCache: null,
      kvbenchCache: cache,
      endpoint: hub.endpoint,
      progress: false,
    };
    const got = await loadSplit(SOURCE, options);
    assert.deepEqual(got.rows, ROWS);
    assert.equal(got.record.origin, "download");
    assert.equal(got.record.commit, COMMIT);
    assert.equal(got.record.sha256, sha256(bytes));
    const dest = join(cache, "example-org", "tiny_qa", "data", "test-00000-of-00001.parquet");
    assert.equal(readMeta(dest)?.sha256, sha256(bytes));
    assert.equal(readMeta(dest)?.revision, "main");
    const requests = hub.seen.length;
    const again = await loadSplit(SOURCE, options);
    assert.equal(again.record.origin, "kvbench-cache");
    assert.equal(again.record.commit, COMMIT);
    assert.equal(hub.seen.length, requests);
  } finally {
    await hub.close();
  }
});

Deno.test("loadSplit() tries the next file when the hub has no copy of the first", async () => {
  const bytes = await parquetBytes();
  const hub = fakeHub({ "other/test.parquet": bytes });
  try {
    const source: SplitSource = {
      ...SOURCE,
      files: [SOURCE.files[0], { path: "other/test.parquet", format: "parquet" }],
    };
    const got = await loadSplit(source, {
      task: "tiny",
      hfHubCache: null,
      kvbenchCache: tempDir(),
      endpoint: hub.endpoint,
      progress: false,
    });
    assert.equal(got.record.path, "other/test.parquet");
    assert.equal(got.rows.length, 2);
  } finally {
    await hub.close();
  }
});

Deno.test("downloadFile() resumes a partial download with a Range request", async () => {
  const body = new TextEncoder().encode("0123456789".repeat(1000));
  const hub = fakeHub({ "big.bin": body });
  try {
    const dest = join(tempDir(), "big.bin");
    writeFileSync(`${dest}.part`, body.slice(0, 4321));
    const got = await downloadFile(hubFileUrl(REPO, "main", "big.bin", hub.endpoint), dest, {
      progress: false,
    });
    assert.equal(got.resumedFrom, 4321);
    assert.equal(got.sha256, sha256(body));
    assert.equal(got.commit, COMMIT);
    assert.deepEqual(new Uint8Array(readFileSync(dest)), body);
    assert.ok(!existsSync(`${dest}.part`));
    assert.deepEqual(hub.seen.map((s) => s.range), ["bytes=4321-", "bytes=4321-"]);
  } finally {
    await hub.close();
  }
});

Deno.test("downloadFile() starts over when the server ignores Range, and finishes a whole .part", async () => {
  const body = new TextEncoder().encode("abcdefghij".repeat(300));
  const hub = fakeHub({ "f.bin": body }, { ignoreRange: true });
  try {
    const dest = join(tempDir(), "f.bin");
    writeFileSync(`${dest}.part`, body.slice(0, 1000));
    const got = await downloadFile(hubFileUrl(REPO, "main", "f.bin", hub.endpoint), dest, {
      progress: false,
    });
    assert.equal(got.resumedFrom, 0);
    assert.deepEqual(new Uint8Array(readFileSync(dest)), body);
  } finally {
    await hub.close();
  }
  const honest = fakeHub({ "f.bin": body });
  try {
    // A .part that is already whole (killed before the rename): the server answers 416.
    const dest = join(tempDir(), "f.bin");
    writeFileSync(`${dest}.part`, body);
    const got = await downloadFile(hubFileUrl(REPO, "main", "f.bin", honest.endpoint), dest, {
      progress: false,
    });
    assert.equal(got.sha256, sha256(body));
    assert.deepEqual(new Uint8Array(readFileSync(dest)), body);
  } finally {
    await honest.close();
  }
});

Deno.test("hubFileUrl() encodes the revision as one path segment", () => {
  assert.equal(
    hubFileUrl("org/ds", "refs/convert/parquet", "a b/0000.parquet", "https://hub.example"),
    "https://hub.example/datasets/org/ds/resolve/refs%2Fconvert%2Fparquet/a%20b/0000.parquet",
  );
});
