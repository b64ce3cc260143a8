// Retiring a tablet that holds unsent visits: an admin retires it while it is offline with two
// visits not yet sent and a form in progress; back online, it sends the visits (they reach the
// server), says what still keeps it from erasing itself (the form in progress), and once that is
// dealt with erases itself and confirms: the device shows as wiped to the admin.
import {
  appUrl, checkScreen, config, enrol, fillVisit, rest, restLogin, run, screenshot, syncNow, tablet,
} from "../lib/harness.mjs";

const doorstepDatabases = (page) => page.evaluate(async () =>
  (await indexedDB.databases()).map((d) => d.name).filter((n) => /doorstep/i.test(n)));

run(async (browser) => {
  const { practitioner, caseId, admin } = config.retire;
  const marker = `retire-${Date.now()}`;
  const out = { a11y: [], visitIds: [] };
  const { context, page } = await tablet(browser);
  await enrol(page, practitioner, { name: "Retiring tablet" });
  const { token: adminToken } = await restLogin(admin);
  const device = (await rest("devices/", { token: adminToken })).find((d) => d.name === "Retiring tablet");

  // Offline: a draft, a submitted visit, and a form typed into but not saved.
  await context.setOffline(true);
  for (const submit of [false, true]) {
    await page.goto(appUrl(`#/case/${encodeURIComponent(caseId)}/visit/new`));
    await fillVisit(page, `${marker}-${submit ? "submitted" : "draft"}`);
    await page.getByRole("button", { name: submit ? "Submit for sign-off" : "Save draft" }).click();
    await page.getByText(submit ? /Visit submitted for sign-off/ : "Draft saved on this tablet.").waitFor();
    if (!submit) {
      await page.waitForURL(/#\/visit\//);
      out.visitIds.push(decodeURIComponent(new URL(page.url()).hash.replace("#/visit/", "")));
    }
  }
  await page.goto(appUrl(`#/case/${encodeURIComponent(caseId)}/visit/new`));
  await page.getByRole("heading", { name: "Record a visit" }).waitFor();
  await page.getByLabel("Observations").fill(`Half-written ${marker}`);
  await page.waitForTimeout(1000);
  await page.goto(appUrl("#/"));
  await page.getByRole("heading", { name: "Your caseload" }).waitFor();

  // The admin retires it; the tablet comes back online and syncs.
  out.retired = (await rest(`devices/${device.pk}/retire/`, { token: adminToken, method: "POST" })).status;
  await context.setOffline(false);
  out.firstSync = await syncNow(page);
  await page.locator("#retiring-text").waitFor();
  out.retiringText = await page.locator("#retiring-text").innerText();
  const notice = page.getByRole("button", { name: "Dismiss message" });
  if (await notice.count()) await notice.click();
  await checkScreen(page, "caseload, retiring", out.a11y);
  await screenshot(page, "retire-waiting");
  const { token } = await restLogin(practitioner);
  const listed = await rest(`cases/${encodeURIComponent(caseId)}/visits/`, { token });
  out.onServer = [];
  for (const visit of listed.results) {
    const { content } = await rest(`visits/${encodeURIComponent(visit.id)}/`, { token });
    if (content.observations?.includes(marker)) out.onServer.push({ id: visit.id, status: content.status });
  }
  out.deviceWhileRetiring = (await rest("devices/", { token: adminToken })).find((d) => d.pk === device.pk);

  // The form in progress is discarded; the next sync erases the tablet and confirms it.
  await page.locator("#unsaved-forms").getByRole("button", { name: /^Discard/ }).click();
  await page.locator("#unsaved-forms").waitFor({ state: "detached" });
  await page.getByRole("button", { name: "Sync now" }).first().click();
  await page.getByRole("heading", { name: "This tablet has been retired" }).waitFor({ timeout: 60_000 });
  out.retiredMessage = await page.locator("main").innerText();
  await checkScreen(page, "retired", out.a11y);
  await screenshot(page, "retired");
  out.databasesAfter = await doorstepDatabases(page);
  out.deviceAfter = (await rest("devices/", { token: adminToken })).find((d) => d.pk === device.pk);
  out.pageErrors = page.errors;
  return out;
});
