// "For your attention": a co-worker's edit made offline to a visit that was signed off before it
// arrived becomes an addendum; the co-worker (its author) is told so on the caseload, with the
// addendum's status, in words and names, until they dismiss it, and can read the list offline.
// Names, not ids: the visit shows who recorded it.
import {
  appUrl, checkScreen, config, enrol, rawIndexedDb, rest, restLogin, run, screenshot, syncNow, tablet, unlock,
} from "../lib/harness.mjs";

run(async (browser) => {
  const { author, coWorker, coWorkerId, caseId, supervisor } = config.attention;
  const out = { a11y: [] };
  const { token: supervisorToken } = await restLogin(supervisor);
  const { token: authorToken } = await restLogin(author);
  const me = await rest("me/", { token: authorToken });
  out.authorName = `${me.first_name} ${me.last_name}`;

  // The co-worker joins the case; the author records a visit (REST, as another tablet would).
  await rest(`cases/${encodeURIComponent(caseId)}/allocations/`, {
    token: supervisorToken, method: "POST", body: { user: coWorkerId, role: "co_worker" },
  });
  const created = await rest(`cases/${encodeURIComponent(caseId)}/visits/`, {
    token: authorToken, method: "POST",
    body: { content: { visit_date: "2026-12-03T10:00:00Z", visit_type: "statutory", observations: "Seen at home." } },
  });

  // The co-worker's tablet has it; offline, they add to it.
  const { context, page } = await tablet(browser);
  await enrol(page, coWorker, { name: "Co-worker's tablet" });
  await page.goto(appUrl(`#/visit/${encodeURIComponent(created.id)}`));
  await page.getByLabel("Analysis").waitFor();
  out.recordedBy = await page.locator(".case-meta").first().innerText();
  await context.setOffline(true);
  await page.getByLabel("Analysis").fill("Added offline by the co-worker.");
  await page.getByRole("button", { name: "Save draft" }).click();
  await page.getByText("Draft saved on this tablet.").waitFor();

  // Meanwhile the author submits and the supervisor signs it off.
  const submitted = await rest(`visits/${encodeURIComponent(created.id)}/submit/`, { token: authorToken, method: "POST", body: { rev: created.rev } });
  await rest(`visits/${encodeURIComponent(created.id)}/sign-off/`, { token: supervisorToken, method: "POST", body: { rev: submitted.rev } });

  // Back online: the edit arrives after the sign-off and is kept as an addendum; they are told.
  await context.setOffline(false);
  await syncNow(page);
  await page.goto(appUrl("#/"));
  await page.locator("#attention li").first().waitFor();
  out.attention = await page.locator("#attention").innerText();
  await checkScreen(page, "caseload, for your attention", out.a11y);
  await screenshot(page, "attention");

  // Kept on the tablet, sealed: readable offline after a reload, never in clear at rest.
  await context.setOffline(true);
  await page.reload();
  await unlock(page);
  await page.locator("#attention li").first().waitFor();
  out.offline = await page.locator("#attention").innerText();
  const raw = await rawIndexedDb(page);
  out.titleInClear = raw.includes("kept as an addendum") || raw.includes(out.authorName);
  await context.setOffline(false);

  // The supervisor acknowledges the addendum: the next sync says so.
  const queue = await rest("review/queue/", { token: supervisorToken });
  const addendum = JSON.stringify(queue).match(/addendum:[0-9A-Z]+/)?.[0];
  const current = await rest(`addenda/${encodeURIComponent(addendum)}/`, { token: supervisorToken });
  await rest(`addenda/${encodeURIComponent(addendum)}/acknowledge/`, { token: supervisorToken, method: "POST", body: { rev: current.rev } });
  await syncNow(page);
  await page.locator("#attention li", { hasText: "acknowledged" }).first().waitFor();
  out.afterAcknowledge = await page.locator("#attention").innerText();

  // Kept until dismissed: dismissed here, it is gone from the server's list too.
  await page.locator("#attention li").first().getByRole("button", { name: /^Dismiss/ }).click();
  await page.locator("#attention").waitFor({ state: "detached" });
  await syncNow(page);
  out.afterDismiss = await page.locator("#attention").count();
  out.onServerAfterDismiss = (await rest("attention/", { token: (await restLogin(coWorker)).token })).results.map((i) => i.status);
  out.pageErrors = page.errors;
  return out;
});
