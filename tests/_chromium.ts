/**
 * Loads a page in headless Chromium as a user's browser would, through the DevTools protocol:
 * what the page logged to the console, a screenshot, and values read from the rendered DOM.
 *
 * The protocol (over a WebSocket on a port Chromium picks) rather than `--dump-dom` because only
 * it reports console messages and failed loads, which are what "the page works" is about.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Names Debian and other systems give the Chromium binary, tried in order. */
const CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/** The Chromium binary: `$CHROMIUM`, else the first of {@linkcode CANDIDATES} on `PATH`, else null. */
export function findChromium(): string | null {
  const named = Deno.env.get("CHROMIUM");
  if (named) return named;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    for (const name of CANDIDATES) {
      try {
        if (Deno.statSync(join(dir, name)).isFile) return join(dir, name);
      } catch {
        // not in this directory
      }
    }
  }
  return null;
}

/** What loading a page left: its console errors and whatever the caller evaluated in it. */
export interface PageVisit<T> {
  /** Console errors, uncaught exceptions and failed loads, one line each. */
  errors: string[];
  /** The value of the caller's expression, evaluated in the loaded page. */
  value: T;
  /** A PNG of the whole page. */
  screenshot: Uint8Array;
}

/** Options of {@linkcode visitPage}. */
export interface VisitOptions {
  /** Viewport width in CSS pixels (default 1000). */
  width?: number;
  /** Device pixel ratio of the screenshot (default 1; below 1 makes a smaller PNG). */
  scale?: number;
}

/**
 * Opens `url` in a fresh headless Chromium, waits for it to load, evaluates `expression` (its
 * result must be JSON) and takes a full-page screenshot.
 */
export async function visitPage<T>(
  chromium: string,
  url: string,
  expression: string,
  options: VisitOptions = {},
): Promise<PageVisit<T>> {
  const profile = mkdtempSync(join(tmpdir(), "kvbench-chromium-"));
  const child = new Deno.Command(chromium, {
    args: [
      "--headless=new",
      "--disable-gpu",
      "--no-sandbox",
      "--no-first-run",
      "--hide-scrollbars",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderrDone: Promise<void> = Promise.resolve();
  try {
    const { port, drained } = await devtoolsPort(child.stderr);
    stderrDone = drained;
    const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
      type: string;
      webSocketDebuggerUrl: string;
    }[];
    const page = targets.find((t) => t.type === "page");
    if (!page) throw new Error("Chromium opened no page target");
    const cdp = await Cdp.connect(page.webSocketDebuggerUrl);
    try {
      const errors: string[] = [];
      cdp.on("Runtime.consoleAPICalled", (p) => {
        if (p.type === "error" || p.type === "assert") {
          errors.push(
            `console.${p.type}: ${JSON.stringify(p.args.map((a: { value?: unknown }) => a.value))}`,
          );
        }
      });
      cdp.on("Runtime.exceptionThrown", (p) => errors.push(`exception: ${p.exceptionDetails.text}`));
      // Log entries carry what the console shows besides console.* calls: failed loads, CSP, …
      cdp.on("Log.entryAdded", (p) => {
        if (p.entry.level === "error") errors.push(`${p.entry.source}: ${p.entry.text} ${p.entry.url ?? ""}`);
      });
      await cdp.send("Runtime.enable");
      await cdp.send("Log.enable");
      await cdp.send("Page.enable");
      const width = options.width ?? 1000;
      await cdp.send("Emulation.setDeviceMetricsOverride", {
        width,
        height: 800,
        deviceScaleFactor: options.scale ?? 1,
        mobile: false,
      });
      const loaded = cdp.once("Page.loadEventFired");
      const nav = await cdp.send("Page.navigate", { url });
      if (nav.errorText) throw new Error(`Chromium could not load ${url}: ${nav.errorText}`);
      await loaded;
      const evaluated = await cdp.send("Runtime.evaluate", { expression, returnByValue: true });
      if (evaluated.exceptionDetails) {
        throw new Error(`evaluating in the page failed: ${evaluated.exceptionDetails.text}`);
      }
      const shot = await cdp.send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
      return {
        errors,
        value: evaluated.result.value as T,
        screenshot: Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0)),
      };
    } finally {
      await cdp.close();
    }
  } finally {
    child.kill();
    await child.status;
    await stderrDone;
    rmSync(profile, { recursive: true, force: true });
  }
}

/**
 * Reads Chromium's stderr until it prints the DevTools port; `drained` settles once the rest of
 * stderr (read and dropped, since Chromium blocks when the pipe it writes to is full) has ended.
 */
async function devtoolsPort(
  stderr: ReadableStream<Uint8Array>,
): Promise<{ port: number; drained: Promise<void> }> {
  const lines = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { value, done } = await lines.read();
    if (done) break;
    seen += value;
    const port = /DevTools listening on ws:\/\/[^:]+:(\d+)\//.exec(seen)?.[1];
    if (port) {
      const drained = (async () => {
        while (!(await lines.read().catch(() => ({ done: true }))).done) { /* dropped */ }
      })();
      return { port: Number(port), drained };
    }
  }
  throw new Error(`Chromium printed no DevTools port; its stderr:\n${seen.slice(-2000)}`);
}

// deno-lint-ignore no-explicit-any
type Params = any;

/** A minimal DevTools protocol client: commands by id, events by method name. */
class Cdp {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: Params) => void; reject: (e: Error) => void }>();
  #listeners = new Map<string, ((p: Params) => void)[]>();

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (event) => {
      const msg = JSON.parse(event.data as string);
      if (msg.id !== undefined) {
        const waiter = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) waiter?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
        else waiter?.resolve(msg.result);
      } else {
        for (const listener of this.#listeners.get(msg.method) ?? []) listener(msg.params);
      }
    };
  }

  static connect(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(new Cdp(ws));
      ws.onerror = (e) =>
        reject(new Error(`cannot connect to Chromium at ${url}: ${(e as ErrorEvent).message}`));
    });
  }

  send(method: string, params: Params = {}): Promise<Params> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  on(method: string, listener: (p: Params) => void): void {
    this.#listeners.set(method, [...(this.#listeners.get(method) ?? []), listener]);
  }

  once(method: string): Promise<Params> {
    return new Promise((resolve) => this.on(method, resolve));
  }

  /** Closes the socket and waits until it is closed (Deno's test sanitizer checks). */
  close(): Promise<void> {
    if (this.#ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.#ws.addEventListener("close", () => resolve()));
    this.#ws.close();
    return closed;
  }
}
