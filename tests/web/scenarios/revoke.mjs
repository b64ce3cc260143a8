// A tablet the council revokes (suspected compromise) locks at its next contact and keeps its
// data sealed, saying so; nothing is erased. Once an admin re-admits it, the passphrase and the
// council password bring it back with the work it held, which then syncs.
import {
  PASSPHRASE, appUrl, checkScreen, config, enrol, rest, restLogin, run, screenshot, syncNow, tablet,
} from "../lib/harness.mjs";

const doorstepDatabases = (page) => page.evaluate(async () =>
  (await indexedDB.databases()).map((d) => d.name).filter((n) => /doorstep/i.test(n)));

run(async (browser) => {
  const { practitioner, caseId, admin } = config.revoke;
  const out = { a11y: [] };
  const { context, page } = await tablet(browser);
  await enrol(page, practitioner, { name: "Revoked tablet" });
  const { token: adminToken } = await restLogin(admin);
  const device = (await rest("devices/", { token: adminToken })).find((d) => d.name === "Revoked tablet");

  // A draft recorded offline, not yet sent, when the council revokes the tablet.
  await context.setOffline(true);
  await page.goto(appUrl(`#/case/${encodeURIComponent(caseId)}/visit/new`));
  await page.getByRole("radio", { name: "Statutory" }).check();
  await page.getByLabel("Observations").fill("Recorded before the tablet was revoked.");
  await page.getByRole("button", { name: "Save draft" }).click();
  await page.getByText("Draft saved on this tablet.").waitFor();
  await rest(`devices/${device.pk}/revoke/`, { token: adminToken, method: "POST" });
  await context.setOffline(false); // the app syncs as the connection returns
  await page.getByRole("heading", { name: "This tablet is suspended" }).waitFor({ timeout: 90_000 });
  out.suspended = await page.locator("main").innerText();
  out.databasesWhileSuspended = await doorstepDatabases(page);
  await checkScreen(page, "suspended", out.a11y);
  await screenshot(page, "suspended");

  // Not re-admitted yet: the password is refused with the reason; then the admin re-admits it.
  await page.getByLabel("Passphrase").fill(PASSPHRASE);
  await page.getByLabel("Password for your council account").fill(config.password);
  await page.getByRole("button", { name: "Carry on" }).click();
  await page.locator(".error-summary").waitFor();
  out.beforeReadmit = await page.locator(".error-summary").innerText();
  await rest(`devices/${device.pk}/readmit/`, { token: adminToken, method: "POST" });
  await page.getByLabel("Passphrase").fill(PASSPHRASE);
  await page.getByLabel("Password for your council account").fill(config.password);
  await page.getByRole("button", { name: "Carry on" }).click();
  await page.locator("#sync-status").waitFor();
  out.afterReadmit = await syncNow(page);
  out.deviceAfter = (await rest("devices/", { token: adminToken })).find((d) => d.pk === device.pk).status;
  out.pageErrors = page.errors;
  return out;
});
