// A practitioner enrols, syncs, goes offline, records a visit, reloads without a network and
// still has it, comes back online and syncs; the visit is then on the server (REST). Their
// supervisor signs it off in the browser and the practitioner sees that after syncing.
import {
  appUrl, config, enrol, fillVisit, rest, restLogin, run, screenshot, signIn, syncNow, syncState, tablet, unlock,
} from "../lib/harness.mjs";

run(async (browser) => {
  const { practitioner, supervisor, caseId } = config.lifecycle;
  const marker = `lifecycle-${Date.now()}`;
  const { context, page } = await tablet(browser);
  await enrol(page, practitioner, { name: "Lifecycle tablet" });
  const caseLink = page.locator(`a[href="#/case/${encodeURIComponent(caseId)}"]`);
  await caseLink.waitFor();
  await screenshot(page, "caseload");
  await caseLink.click();
  await page.getByRole("heading", { name: "Visits" }).waitFor();
  await screenshot(page, "case");

  // The app shell is cached once the service worker controls the page.
  await page.waitForFunction(() => Boolean(navigator.serviceWorker?.controller), null, { timeout: 30_000 });

  // Offline from here: record, save a draft, submit.
  await context.setOffline(true);
  await page.getByRole("link", { name: "Record a visit" }).click();
  await fillVisit(page, marker);
  await page.evaluate(() => {
    document.activeElement?.blur();
    window.scrollTo(0, document.getElementById("s-people").getBoundingClientRect().top + window.scrollY - 80);
  });
  await screenshot(page, "visit-form");
  await page.getByRole("button", { name: "Save draft" }).click();
  await page.getByText("Draft saved on this tablet.").waitFor();
  await page.waitForURL(/#\/visit\//);
  const visitId = decodeURIComponent(new URL(page.url()).hash.replace("#/visit/", ""));
  await page.getByRole("button", { name: "Submit for sign-off" }).click();
  await page.getByText(/Visit submitted for sign-off/).waitFor();
  const offlineState = await syncState(page);

  // Reload with no network: the shell comes from the service worker, the data from IndexedDB.
  const navigation = await page.reload();
  const servedFromServiceWorker = navigation ? navigation.fromServiceWorker() : null;
  await unlock(page);
  // The tablet reopens where it was: the case, after the submit.
  await page.getByRole("heading", { name: "Visits" }).waitFor();
  const row = page.locator("table.visits tr", { has: page.locator(`a[href="#/visit/${encodeURIComponent(visitId)}"]`) });
  await row.waitFor();
  const rowTextOffline = await row.innerText();
  await page.goto(appUrl("#/sync"));
  await page.getByRole("heading", { name: "Sync" }).waitFor();
  await screenshot(page, "sync-offline");

  // Online again: sync, and the server has it.
  await context.setOffline(false);
  await page.waitForFunction(() => navigator.onLine);
  const afterSync = await syncNow(page);
  const { token: supervisorToken } = await restLogin(supervisor);
  const onServer = await rest(`visits/${encodeURIComponent(visitId)}/`, { token: supervisorToken });

  // The supervisor signs it off in their browser.
  const desk = await tablet(browser);
  await signIn(desk.page, supervisor);
  await desk.page.getByRole("heading", { name: "Review queue" }).waitFor();
  const reviewLink = desk.page.locator(`a[href="#/review/visit/${encodeURIComponent(visitId)}"]`);
  await reviewLink.waitFor();
  await screenshot(desk.page, "review-queue");
  await reviewLink.click();
  await desk.page.getByRole("heading", { name: "Your decision" }).waitFor();
  await screenshot(desk.page, "review-visit");
  await desk.page.getByLabel("Comment").fill("Good record. Signed off.");
  await desk.page.getByRole("button", { name: "Sign off" }).click();
  await desk.page.getByText("Visit signed off.").waitFor();
  await desk.context.close();

  // The practitioner syncs and sees it signed off.
  const afterSignOff = await syncNow(page);
  await page.goto(appUrl(`#/visit/${encodeURIComponent(visitId)}`));
  await page.getByText(/^Signed off on /).waitFor();
  await screenshot(page, "visit-signed-off");
  const signedOffText = await page.locator("main").innerText();

  return {
    visitId,
    marker,
    offlineState,
    servedFromServiceWorker,
    rowTextOffline,
    afterSync,
    onServer: { status: onServer.content.status, observations: onServer.content.observations, author: onServer.content.author,
      actions: onServer.content.actions, children_seen: onServer.content.children_seen, risk_level: onServer.content.risk_level },
    afterSignOff,
    signedOffShown: signedOffText.includes("Signed off on"),
    observationsShown: signedOffText.includes(marker),
    pageErrors: page.errors,
  };
});
