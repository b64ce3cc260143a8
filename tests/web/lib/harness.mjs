// Shared helpers for the browser scenarios: real Chromium through playwright-core (from
// clients/web's dev dependencies), the app driven the way a person would (labels, roles,
// keyboard), axe-core injected into the page, and the REST API for checking the server.
// Each scenario prints one JSON object as its last line; pytest asserts on it.
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(here, "..", "..", "..");
const require = createRequire(join(ROOT, "clients", "web", "package.json"));
const { chromium } = require("playwright-core");
export const AXE_PATH = require.resolve("axe-core/axe.min.js");
const AXE_SOURCE = `${readFileSync(AXE_PATH, "utf8")}\n;void 0;`;

export const config = JSON.parse(process.env.DOORSTEP_WEB_CONFIG || "{}");
export const BASE = config.base || "http://127.0.0.1:8000";
export const PASSWORD = config.password || "doorstep-demo-2026";
export const PASSPHRASE = "blue kettle on the hill 42";
export const LANDSCAPE = { width: 1024, height: 768 };
export const PORTRAIT = { width: 768, height: 1024 };

const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--lang=en-GB", // date inputs as a British tablet shows them
];

export async function launch() {
  return chromium.launch({ executablePath: config.chromium || "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

/** A tablet whose profile lives in `userDataDir` (IndexedDB, service worker cache), so closing
 * it and launching it again is closing and reopening the app; `offline` starts it without a
 * network. Returns {context, page}. */
export async function persistentTablet(userDataDir, { viewport = LANDSCAPE, offline = false } = {}) {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: config.chromium || "/usr/bin/chromium", args: CHROMIUM_ARGS, viewport, offline,
    locale: "en-GB", timezoneId: "Europe/London",
  });
  const page = context.pages()[0] || await context.newPage();
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(String(err)));
  return { context, page };
}

/** Every value in every IndexedDB database of the page's origin, as one string: what a person
 * holding the tablet could read at rest. */
export const rawIndexedDb = (page) => page.evaluate(async () => {
  const dump = [];
  for (const { name } of await indexedDB.databases()) {
    const db = await new Promise((resolve, reject) => {
      const req = indexedDB.open(name);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    for (const store of db.objectStoreNames) {
      const values = await new Promise((resolve, reject) => {
        const req = db.transaction(store, "readonly").objectStore(store).getAll();
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      dump.push(JSON.stringify({ name, store, values }));
    }
    db.close();
  }
  return dump.join("\n");
});

/** A fresh browser profile: one tablet. */
export async function tablet(browser, { viewport = LANDSCAPE } = {}) {
  const context = await browser.newContext({ viewport, locale: "en-GB", timezoneId: "Europe/London" });
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(String(err)));
  return { context, page };
}

export const appUrl = (hash = "") => `${BASE}/app/${hash}`;

export async function signIn(page, username, password = PASSWORD) {
  await page.goto(appUrl());
  await page.getByRole("heading", { name: "Sign in to Doorstep" }).waitFor();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Sign in as a practitioner and set up the tablet; resolves once the first sync finished. */
export async function enrol(page, username, { passphrase = PASSPHRASE, name } = {}) {
  await signIn(page, username);
  await page.getByRole("heading", { name: "Set up this tablet" }).waitFor();
  if (name) await page.getByLabel("Name for this tablet").fill(name);
  await page.getByLabel("Passphrase", { exact: true }).fill(passphrase);
  await page.getByLabel("Type the passphrase again").fill(passphrase);
  await page.getByRole("button", { name: "Set up tablet" }).click();
  await page.getByRole("heading", { name: "Your caseload" }).waitFor();
  await waitSyncIdle(page, { since: "" });
}

export async function unlock(page, passphrase = PASSPHRASE) {
  await page.getByRole("heading", { name: "Unlock Doorstep" }).waitFor();
  await page.getByLabel("Passphrase").fill(passphrase);
  await page.getByRole("button", { name: "Unlock" }).click();
}

export const syncState = (page) => page.evaluate(() => {
  const pill = document.getElementById("sync-status");
  return pill ? { status: pill.dataset.status, pending: Number(pill.dataset.pending), syncedAt: pill.dataset.syncedAt } : null;
});

/** Wait until a sync newer than `since` has finished (or the status is not syncing). */
export async function waitSyncIdle(page, { since = null, timeout = 60_000 } = {}) {
  await page.waitForFunction((prev) => {
    const pill = document.getElementById("sync-status");
    if (!pill || pill.dataset.status === "syncing") return false;
    if (prev === null) return true;
    return pill.dataset.syncedAt !== prev && pill.dataset.syncedAt !== "" || ["error", "expired", "offline"].includes(pill.dataset.status);
  }, since, { timeout, polling: 100 });
  return syncState(page);
}

/** Press the header's Sync button and wait for that sync to finish. */
export async function syncNow(page, { timeout = 60_000 } = {}) {
  // Let a sync already running (the app syncs on its own, e.g. on load) finish first, and only
  // then note where things stand: otherwise that earlier sync's finish, which may have pulled
  // before the change the caller just made on the server, would pass for this one.
  await page.waitForFunction(() => document.getElementById("sync-status")?.dataset.status !== "syncing", null, { timeout });
  const before = await syncState(page);
  await page.getByRole("button", { name: "Sync now" }).first().click();
  return waitSyncIdle(page, { since: before?.syncedAt ?? "", timeout });
}

/** Run axe-core in the page; returns serious and critical violations (id, impact, targets). */
export async function axe(page) {
  // Evaluated through DevTools rather than as a <script>: the app's CSP (rightly) refuses
  // inline scripts, and the test must not weaken it.
  if (!(await page.evaluate(() => Boolean(globalThis.axe)))) await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () => {
    const r = await globalThis.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] } });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")) }));
  });
  return result.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** axe in landscape and portrait, plus whether the page scrolls sideways; back to landscape. */
export async function checkScreen(page, screen, results) {
  for (const [name, viewport] of [["landscape", LANDSCAPE], ["portrait", PORTRAIT]]) {
    await page.setViewportSize(viewport);
    await page.waitForTimeout(50);
    const horizontalScroll = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
    results.push({ screen, viewport: name, violations: await axe(page), horizontalScroll });
  }
  await page.setViewportSize(LANDSCAPE);
}

export async function screenshot(page, name) {
  if (!config.screenshots) return null;
  mkdirSync(config.screenshots, { recursive: true });
  const path = join(config.screenshots, `${name}.png`);
  await page.screenshot({ path, animations: "disabled", caret: "hide" });
  return path;
}

// -- REST, for checking what reached the server -------------------------------------------------
export async function rest(path, { token, method = "GET", body } = {}) {
  const response = await fetch(`${BASE}/api/${path}`, {
    method,
    headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Token ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return data;
}

export async function restLogin(username, password = PASSWORD) {
  return rest("auth/token/", { method: "POST", body: { username, password } });
}

// -- the visit form --------------------------------------------------------------------------
/** Fill the visit form with a recognisable visit; `marker` goes into the free text. */
export async function fillVisit(page, marker) {
  await page.getByRole("heading", { name: "Record a visit" }).waitFor();
  await page.getByRole("radio", { name: "Statutory" }).check();
  const adults = page.locator("fieldset.checkboxes input[type=checkbox]");
  if (await adults.count()) await adults.first().check();
  const children = page.locator("fieldset.child");
  for (let i = 0; i < await children.count(); i++) {
    const child = children.nth(i);
    await child.getByRole("group", { name: /was .* seen\?/i }).getByRole("radio", { name: "Yes" }).check();
    const alone = child.getByRole("group", { name: /seen alone\?/i });
    await alone.getByRole("radio", { name: i === 0 ? "Yes" : "No" }).check();
    if (i > 0) await child.getByLabel(/why was .* not seen alone/i).fill("Asleep when we arrived; to be seen at school on Friday.");
  }
  await page.getByLabel("Home environment").fill("Warm and tidy. Food in the fridge.");
  await page.getByLabel("Observations").fill(`Observation ${marker}.\n\nThe children were relaxed with their mother.`);
  await page.getByLabel("The child's voice").fill("She said she likes her new teacher.");
  await page.getByLabel("Analysis").fill("Needs are being met; support continues.");
  await page.getByRole("button", { name: "Add an action" }).click();
  await page.getByLabel("What needs to happen").fill(`Book a review meeting (${marker})`);
  await page.getByLabel("Who will do it").fill("social worker");
  await page.getByLabel("Due by").fill("2026-12-18");
  await page.getByRole("radio", { name: /^Low/ }).check();
  await page.getByLabel("Risk concerns").fill("None beyond those in the plan.");
}

/** Print the scenario's result as the last line of output, and exit. */
export function report(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

export async function run(main) {
  let browser;
  try {
    browser = await launch();
    report(await main(browser));
    await browser.close();
    process.exit(0);
  } catch (err) {
    process.stderr.write(`${err.stack || err}\n`);
    if (browser) await browser.close().catch(() => {});
    process.exit(1);
  }
}
