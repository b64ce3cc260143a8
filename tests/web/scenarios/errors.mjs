// What the user is told when things go wrong: a wrong passphrase; a record the server
// refuses (kept, shown against the record, with the server's reason); a device token that no
// longer works (sign in again, nothing lost); storage running out; and a device revoked by an
// admin (everything local erased, and the user told why).
import {
  PASSPHRASE, appUrl, checkScreen, config, enrol, fillVisit, rest, restLogin, run, screenshot, syncNow, tablet, unlock,
} from "../lib/harness.mjs";

const doorstepDatabases = (page) => page.evaluate(async () =>
  (await indexedDB.databases()).map((d) => d.name).filter((n) => /doorstep/i.test(n)));

run(async (browser) => {
  const { practitioner, caseId, admin } = config.errors;
  const out = { a11y: [] };
  const { context, page } = await tablet(browser);
  await enrol(page, practitioner, { name: "Errors tablet" });

  // 1. Wrong passphrase.
  await page.getByRole("button", { name: "Lock" }).click();
  await page.getByLabel("Passphrase").fill("not my passphrase at all");
  await page.getByRole("button", { name: "Unlock" }).click();
  await page.locator(".error-summary").waitFor();
  out.wrongPassphrase = await page.locator(".error-summary").innerText();
  out.wrongPassphraseFieldError = await page.locator("#unlock-passphrase-error").innerText();
  await screenshot(page, "unlock-wrong-passphrase");
  await unlock(page, PASSPHRASE);
  await page.getByRole("heading", { name: "Your caseload" }).waitFor();

  // 2. A record the server refuses: observations longer than the schema allows (the form's
  //    own limit removed, as an out-of-date form might not have it).
  await page.goto(appUrl(`#/case/${encodeURIComponent(caseId)}/visit/new`));
  await fillVisit(page, "refused");
  await page.getByLabel("Observations").evaluate((el) => el.removeAttribute("maxlength"));
  await page.getByLabel("Observations").fill("x".repeat(20_001));
  await page.getByRole("button", { name: "Save draft" }).click();
  await page.waitForURL(/#\/visit\//);
  const refusedId = decodeURIComponent(new URL(page.url()).hash.replace("#/visit/", ""));
  out.refusedSync = await syncNow(page);
  await page.getByText("The server did not accept this visit").waitFor();
  out.refusedPanel = await page.locator(".panel--error").first().innerText();
  await checkScreen(page, "visit, refused by server", out.a11y);
  await page.goto(appUrl("#/sync"));
  await page.locator("#refused-list li").first().waitFor();
  await page.locator("#refused-list li", { hasText: "–" }).first().waitFor();
  await page.waitForFunction(() => document.getElementById("sync-status")?.dataset.status !== "syncing");
  out.refusedList = await page.locator("#refused-list").innerText();
  await checkScreen(page, "sync, refused", out.a11y);
  await screenshot(page, "sync-refused");
  await page.goto(appUrl(`#/case/${encodeURIComponent(caseId)}`));
  const refusedRow = page.locator("table.visits tr", { has: page.locator(`a[href="#/visit/${encodeURIComponent(refusedId)}"]`) });
  await refusedRow.waitFor();
  out.refusedRow = await refusedRow.innerText();
  out.refusedId = refusedId;

  // 3. The device token stops working (renewed elsewhere): sign in again; nothing is lost.
  const { token: userToken } = await restLogin(practitioner);
  const devices = await rest("devices/", { token: userToken });
  const device = devices.find((d) => d.name === "Errors tablet");
  await rest(`devices/${device.pk}/token/`, { token: userToken, method: "POST" });
  await page.getByRole("button", { name: "Sync now" }).first().click();
  await page.waitForFunction(() => document.getElementById("sync-status")?.dataset.status === "expired");
  await page.goto(appUrl("#/sync"));
  await page.getByRole("heading", { name: "Sign in again to carry on syncing" }).waitFor();
  out.expiredMessage = await page.locator(".panel--warning", { has: page.getByRole("heading", { name: "Sign in again to carry on syncing" }) }).innerText();
  await checkScreen(page, "sync, sign in again", out.a11y);
  await page.getByLabel("Password for your council account").fill(config.password || "doorstep-demo-2026");
  await page.getByRole("button", { name: "Sign in and sync" }).click();
  await page.waitForFunction(() => ["idle"].includes(document.getElementById("sync-status")?.dataset.status)
    && document.getElementById("sync-message")?.textContent.startsWith("Synced"), null, { timeout: 30_000 });
  out.afterRenew = await page.locator("#sync-message").innerText();

  // 4. Storage runs out: a second tablet with a small storage quota (Chromium only honours a
  //    quota override made before the origin's first write) fills up; the save that does not
  //    fit is refused with a clear message and the form keeps the text.
  const small = await tablet(browser);
  const cdp = await small.context.newCDPSession(small.page);
  await cdp.send("Storage.overrideQuotaForOrigin", { origin: new URL(appUrl()).origin, quotaSize: 3 * 1024 * 1024 });
  await enrol(small.page, practitioner, { name: "Small tablet" });
  const noise = () => Array.from({ length: 19_000 }, () => "abcdefghijklmnopqrstuvwxyz "[Math.floor(Math.random() * 27)]).join("");
  out.quotaSaves = 0;
  for (let attempt = 0; attempt < 40; attempt++) {
    await small.page.goto(appUrl(`#/case/${encodeURIComponent(caseId)}/visit/new`));
    await small.page.getByRole("heading", { name: "Record a visit" }).waitFor();
    await small.page.getByRole("radio", { name: "Statutory" }).check();
    for (const field of ["Home environment", "Observations", "The child's voice", "Analysis", "Risk concerns"]) {
      await small.page.getByLabel(field).fill(noise());
    }
    await small.page.getByRole("button", { name: "Save draft" }).click();
    const outcome = await small.page.waitForSelector(".save-error, .notice--success", { timeout: 20_000 });
    if ((await outcome.getAttribute("class")).includes("save-error")) break;
    out.quotaSaves += 1;
    await small.page.getByRole("button", { name: "Dismiss message" }).click();
  }
  out.quotaMessage = await small.page.locator(".save-error").innerText();
  out.quotaFormKept = (await small.page.getByLabel("Observations").inputValue()).length;
  await checkScreen(small.page, "visit form, storage full", out.a11y);
  await screenshot(small.page, "storage-full");
  await small.context.close();

  // 5. The case is reallocated: its documents and keys leave the tablet at the next sync.
  const { token: supervisorToken } = await restLogin(config.errors.supervisor);
  const allocations = await rest(`cases/${encodeURIComponent(caseId)}/allocations/`, { token: supervisorToken });
  const mine = allocations.find((a) => a.username === practitioner);
  await rest(`allocations/${mine.id}/end/`, { token: supervisorToken, method: "POST" });
  await page.goto(appUrl("#/"));
  await page.getByRole("heading", { name: "Your caseload" }).waitFor();
  const purgeSync = await syncNow(page);
  out.purgeMessage = await page.evaluate(() => document.getElementById("sync-status").dataset.status);
  // The list re-renders from the replica just after the sync reports; give it a moment.
  const caseLink = page.locator(`a[href="#/case/${encodeURIComponent(caseId)}"]`);
  await caseLink.waitFor({ state: "detached", timeout: 10_000 }).catch(() => {});
  out.caseLinksAfterPurge = await caseLink.count();
  await page.goto(appUrl(`#/case/${encodeURIComponent(caseId)}`));
  await page.getByRole("heading", { name: "Case not on this tablet" }).waitFor();
  out.purgeSync = purgeSync;
  out.refusedAfterPurge = await page.evaluate(() => document.getElementById("sync-status").textContent);

  // 6. An admin orders a wipe: the next contact erases everything and says why.
  out.databasesBeforeWipe = await doorstepDatabases(page);
  const { token: adminToken } = await restLogin(admin);
  await rest(`devices/${device.pk}/wipe/`, { token: adminToken, method: "POST" });
  await page.goto(appUrl("#/"));
  await page.getByRole("button", { name: "Sync now" }).first().click();
  await page.getByRole("heading", { name: "This tablet has been wiped" }).waitFor();
  out.wipedMessage = await page.locator("main").innerText();
  out.databasesAfterWipe = await doorstepDatabases(page);
  await checkScreen(page, "wiped", out.a11y);
  await screenshot(page, "wiped");
  await page.reload();
  await page.getByRole("heading", { name: "Sign in to Doorstep" }).waitFor();
  out.afterReload = "sign-in";
  out.pageErrors = page.errors;
  return out;
});
