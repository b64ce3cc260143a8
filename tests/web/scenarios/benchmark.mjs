// Figures for docs/benchmarks.md: a practitioner with a caseload of about 2,000 documents sets
// up a new tablet (first sync of everything), then reopens the app and unlocks it several
// times (caseload list rendered from local data, decrypted).
import { PASSPHRASE, config, run, signIn, tablet, unlock } from "../lib/harness.mjs";

const perf = (page, name) => page.evaluate((n) => (globalThis.__doorstepPerf || []).filter((e) => e.name === n), name);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : null; };

run(async (browser) => {
  const { practitioner, cases } = config.benchmark;
  const { page } = await tablet(browser);
  await signIn(page, practitioner);
  await page.getByRole("heading", { name: "Set up this tablet" }).waitFor();
  await page.getByLabel("Passphrase", { exact: true }).fill(PASSPHRASE);
  await page.getByLabel("Type the passphrase again").fill(PASSPHRASE);
  const rows = page.locator("table.caseload tbody tr");

  const t0 = Date.now();
  await page.getByRole("button", { name: "Set up tablet" }).click();
  await page.waitForFunction(() => {
    const pill = document.getElementById("sync-status");
    return pill && pill.dataset.syncedAt && pill.dataset.status === "idle";
  }, null, { timeout: 120_000, polling: 50 });
  await page.waitForFunction((n) => document.querySelectorAll("table.caseload tbody tr").length === n, cases, { timeout: 30_000, polling: 50 });
  const enrolToList = Date.now() - t0;
  const [firstSync] = await perf(page, "sync");
  const firstRender = (await perf(page, "caseload-render")).at(-1);

  // A sync with nothing new.
  await page.getByRole("button", { name: "Sync now" }).first().click();
  await page.waitForFunction(() => (globalThis.__doorstepPerf || []).filter((e) => e.name === "sync").length >= 2, null, { timeout: 60_000 });
  const noChangeSync = (await perf(page, "sync"))[1];

  // Reopen and unlock: the list comes from the local replica only.
  const renders = [], unlocks = [], keystore = [], unlockToList = [], phases = [];
  for (let i = 0; i < 3; i++) {
    await page.reload();
    const t1 = Date.now();
    await unlock(page, PASSPHRASE);
    await page.waitForFunction((n) => document.querySelectorAll("table.caseload tbody tr").length === n
      && (globalThis.__doorstepPerf || []).some((e) => e.name === "caseload-render"), cases, { timeout: 30_000, polling: 20 });
    unlockToList.push(Date.now() - t1);
    renders.push((await perf(page, "caseload-render")).at(-1).ms);
    unlocks.push((await perf(page, "unlock")).at(-1).ms);
    keystore.push((await perf(page, "unlock-keystore")).at(-1).ms);
    phases.push({ envelopes: (await perf(page, "unlock-envelopes")).at(-1).ms, index: (await perf(page, "unlock-index")).at(-1).ms });
  }
  const storage = await page.evaluate(async () => (await navigator.storage.estimate()).usageDetails || {});

  return {
    chromium: browser.version(),
    cases,
    rows: await rows.count(),
    firstSyncMs: Math.round(firstSync.ms),
    firstSync, noChangeSync, unlockPhases: phases,
    documentsPulled: firstSync.pulled,
    enrolToListMs: enrolToList,
    firstRenderMs: firstRender?.ms ?? null,
    noChangeSyncMs: Math.round(noChangeSync.ms),
    caseloadRenderMs: renders,
    caseloadRenderMedianMs: median(renders),
    unlockMs: unlocks,
    keystoreMs: keystore,
    unlockToListMs: unlockToList,
    indexedDbBytes: storage.indexedDB ?? null,
    pageErrors: page.errors,
  };
});
