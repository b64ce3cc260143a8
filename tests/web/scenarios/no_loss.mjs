// Nothing typed is lost: text typed into a visit form and never saved comes back (a) after the
// browser is closed and the app reopened offline, (b) after the idle lock fires (the council's
// setting shortened), (c) after the tablet's clock moved two days back; all the while IndexedDB
// holds none of it in clear. Then the edit times the server receives are corrected by the server's
// clock, and erasing the tablet with a record not yet sent is refused, or audited when the user
// explicitly discards it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  PASSPHRASE, appUrl, checkScreen, config, enrol, persistentTablet, rawIndexedDb, rest, restLogin, run, screenshot,
  syncNow, unlock, waitSyncIdle,
} from "../lib/harness.mjs";

const TWO_DAYS = 2 * 24 * 3600 * 1000;
const observations = (page) => page.getByLabel("Observations").inputValue();

run(async () => {
  const { practitioner, caseId, admin } = config.noLoss;
  const profile = mkdtempSync(join(tmpdir(), "doorstep-tablet-"));
  const canary = { a: `canary-closed-${Date.now()}`, b: `canary-idle-${Date.now()}`, c: `canary-clock-${Date.now()}` };
  const out = { a11y: [], pageErrors: [], canary };
  const newVisit = appUrl(`#/case/${encodeURIComponent(caseId)}/visit/new`);
  let tablet;
  try {
    // -- (a) typed, never saved, the browser closed; reopened without a network -------------------
    tablet = await persistentTablet(profile);
    let { context, page } = tablet;
    await enrol(page, practitioner, { name: "No-loss tablet" });
    await page.waitForFunction(() => Boolean(navigator.serviceWorker?.controller), null, { timeout: 30_000 });
    await page.goto(newVisit);
    await page.getByRole("heading", { name: "Record a visit" }).waitFor();
    // No visit type chosen: the half-written form the old idle lock threw away.
    await page.getByLabel("Home environment").fill("Cold; the heating is broken.");
    await page.getByLabel("Observations").pressSequentially(`Seen in the kitchen. ${canary.a}`, { delay: 5 });
    await page.waitForTimeout(1000); // "within a second of typing"
    out.rawAfterTyping = { hasCanary: (await rawIndexedDb(page)).includes(canary.a), hasAutosave: (await rawIndexedDb(page)).includes("doorstep-autosave") };
    out.pageErrors.push(...page.errors);
    await context.close();

    tablet = await persistentTablet(profile, { offline: true });
    ({ context, page } = tablet);
    await page.goto(appUrl());
    await unlock(page);
    await page.getByRole("heading", { name: "Your caseload" }).waitFor();
    await page.locator("#unsaved-forms").waitFor();
    out.offerOnCaseload = await page.locator("#unsaved-forms").innerText();
    await checkScreen(page, "caseload, unsaved changes", out.a11y);
    await screenshot(page, "restore-offer-caseload");
    await page.locator("#unsaved-forms").getByRole("link", { name: /^Restore/ }).click();
    await page.getByRole("heading", { name: "Record a visit" }).waitFor();
    out.restoredAfterClose = await observations(page);
    out.homeKeptAfterClose = await page.getByLabel("Home environment").inputValue();

    // -- (b) the idle lock fires (the council's setting shortened to 1 minute) -------------------------
    await context.setOffline(false);
    await context.route("**/api/tablet/settings/", (route) => route.fulfill({ json: { idle_lock_minutes: 1 } }));
    await context.clock.install();
    await page.reload();
    await unlock(page);
    out.routeAfterReload = new URL(page.url()).hash;
    await page.locator("#restore-offer").waitFor();
    await page.getByRole("button", { name: "Restore my changes" }).click();
    await page.getByLabel("Observations").press("End");
    await page.getByLabel("Observations").pressSequentially(` ${canary.b}`, { delay: 5 });
    await waitSyncIdle(page);
    await page.clock.fastForward("02:00");
    await page.getByRole("heading", { name: "Unlock Doorstep" }).waitFor({ timeout: 30_000 });
    out.lockNotice = await page.locator(".notice").innerText().catch(() => "");
    out.formGoneWhileLocked = !(await page.content()).includes(canary.b);
    await unlock(page);
    await page.getByRole("heading", { name: "Record a visit" }).waitFor();
    out.routeAfterIdleLock = new URL(page.url()).hash;
    out.restoredAfterIdleLock = await observations(page);
    out.offerShownAfterLock = await page.locator("#restore-offer").count();
    out.pageErrors.push(...page.errors);
    await context.close();

    // -- (c) the tablet's clock two days back; the app reopened --------------------------------------
    tablet = await persistentTablet(profile);
    ({ context, page } = tablet);
    const realNow = Date.now();
    await context.clock.install({ time: realNow - TWO_DAYS });
    await page.goto(newVisit);
    await unlock(page);
    await page.locator("#restore-offer").waitFor({ timeout: 30_000 });
    out.offerText = await page.locator("#restore-offer").innerText();
    await checkScreen(page, "visit form, restore offer", out.a11y);
    await screenshot(page, "restore-offer");
    await page.getByRole("button", { name: "Restore my changes" }).click();
    out.restoredAfterClockBack = await observations(page);
    await page.getByLabel("Observations").press("End");
    await page.getByLabel("Observations").pressSequentially(` ${canary.c}`, { delay: 5 });
    await page.waitForTimeout(1000);
    const raw = await rawIndexedDb(page);
    out.rawAfterClockBack = { hasCanary: [canary.a, canary.b, canary.c].some((c) => raw.includes(c)) };
    await waitSyncIdle(page);
    out.syncAfterClockBack = await syncNow(page);
    await page.getByRole("radio", { name: "Statutory" }).check();
    await page.getByRole("button", { name: "Save draft" }).click();
    await page.getByText("Draft saved on this tablet.").waitFor();
    await page.waitForURL(/#\/visit\//);
    const visitId = decodeURIComponent(new URL(page.url()).hash.replace("#/visit/", ""));
    out.syncAfterSave = await syncNow(page);
    const { token } = await restLogin(practitioner);
    const onServer = await rest(`visits/${encodeURIComponent(visitId)}/`, { token });
    out.onServer = { observations: onServer.content.observations, updatedAt: onServer.content.updated_at, updatedAtDevice: onServer.content.updated_at_device };
    out.realNow = new Date(realNow).toISOString();
    await page.goto(appUrl("#/"));
    await page.getByRole("heading", { name: "Your caseload" }).waitFor();
    out.unsavedAfterSave = await page.locator("#unsaved-forms").count();

    // -- erasing with a record not yet sent: refused; discarding it is audited ---------------------------
    await context.setOffline(true);
    await page.goto(newVisit);
    await page.getByRole("heading", { name: "Record a visit" }).waitFor();
    await page.getByRole("radio", { name: "Statutory" }).check();
    await page.getByLabel("Observations").fill("Written offline, never sent.");
    await page.getByRole("button", { name: "Save draft" }).click();
    await page.getByText("Draft saved on this tablet.").waitFor();
    // Saving a new visit moves to its own page: let that happen before going to Sync, or the
    // move can land after it and take the Sync page (and its Erase button) away mid-click.
    await page.waitForURL(/#\/visit\//);
    await page.goto(appUrl("#/sync"));
    await page.getByRole("heading", { name: "Sync", exact: true }).waitFor();
    await page.getByRole("button", { name: "Erase this tablet…" }).click();
    await page.locator("#erase-refused").waitFor();
    out.eraseRefusedUnlocked = await page.locator("#erase-refused").innerText();
    out.storagePersisted = await page.locator("#storage-persisted").innerText();
    await checkScreen(page, "sync, erase refused", out.a11y);
    await page.getByRole("button", { name: "Lock" }).click();
    await context.setOffline(false); // locked: no sync can send it
    await page.getByRole("button", { name: "Forgotten your passphrase?" }).click();
    await page.locator("#erase-refused").waitFor();
    out.eraseRefusedLocked = await page.locator("#erase-refused").innerText();
    out.plainEraseOffered = await page.getByRole("button", { name: "Erase this tablet's data" }).count();
    await checkScreen(page, "unlock, erase refused", out.a11y);
    await page.locator("#erase-refused").evaluate((el) => el.scrollIntoView({ block: "center" }));
    await screenshot(page, "erase-refused");
    await page.getByRole("button", { name: /^Discard 1 unsent record/ }).click();
    await page.locator(".error-summary").waitFor();
    out.discardUnconfirmed = await page.locator(".error-summary").innerText();
    await page.getByLabel("Password for your council account").fill(config.password);
    await page.getByLabel(/I understand that 1 unsent record/).check();
    await page.getByRole("button", { name: /^Discard 1 unsent record/ }).click();
    await page.getByRole("heading", { name: "This tablet has been wiped" }).waitFor();
    out.discardedMessage = await page.locator("main").innerText();
    const { token: adminToken } = await restLogin(admin);
    const devices = await rest("devices/", { token: adminToken });
    const device = devices.find((d) => d.name === "No-loss tablet");
    const audit = await rest(`audit/?object_id=${encodeURIComponent(device.id)}`, { token: adminToken });
    out.discardAudit = (audit.results || audit).filter((e) => e.action === "device_discard").map((e) => e.detail);
    out.databasesAfter = await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name).filter((n) => /doorstep/i.test(n)));
    out.pageErrors.push(...page.errors);
    await context.close();
    tablet = null;
    return out;
  } catch (err) {
    process.stderr.write(`so far: ${JSON.stringify(out)}\n`);
    if (tablet) await screenshot(tablet.page, "no-loss-failure").catch(() => {});
    throw err;
  } finally {
    if (tablet) await tablet.context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
});
