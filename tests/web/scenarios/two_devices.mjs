// Two tablets of one practitioner edit the same visit while offline: one adds to the
// observations and says risk is medium, the other adds to the child's voice and says high.
// After both sync, the server has merged them and both tablets show the same record; the
// disagreement on risk goes to the supervisor, who decides it side by side.
import {
  appUrl, checkScreen, config, enrol, fillVisit, rest, restLogin, run, screenshot, signIn, syncNow, tablet,
} from "../lib/harness.mjs";

async function openVisit(page, visitId) {
  await page.goto(appUrl(`#/visit/${encodeURIComponent(visitId)}`));
  await page.getByLabel("Observations").waitFor();
}

async function readVisit(page, visitId) {
  await openVisit(page, visitId);
  return {
    observations: await page.getByLabel("Observations").inputValue(),
    childVoice: await page.getByLabel("The child's voice").inputValue(),
    risk: await page.locator("input[name=risk_level]:checked").getAttribute("id"),
    text: await page.locator("main").innerText(),
  };
}

run(async (browser) => {
  const { practitioner, supervisor, caseId } = config.twoDevices;
  const marker = `two-devices-${Date.now()}`;
  const a = await tablet(browser);
  const b = await tablet(browser);
  await enrol(a.page, practitioner, { name: "Tablet A" });
  await enrol(b.page, practitioner, { name: "Tablet B" });

  // Tablet A records a draft and syncs; tablet B receives it.
  await a.page.goto(appUrl(`#/case/${encodeURIComponent(caseId)}/visit/new`));
  await fillVisit(a.page, marker);
  await a.page.getByRole("button", { name: "Save draft" }).click();
  await a.page.waitForURL(/#\/visit\//);
  const visitId = decodeURIComponent(new URL(a.page.url()).hash.replace("#/visit/", ""));
  await syncNow(a.page);
  await syncNow(b.page);

  // Both offline, both edit.
  await a.context.setOffline(true);
  await b.context.setOffline(true);
  await openVisit(a.page, visitId);
  const obs = a.page.getByLabel("Observations");
  await obs.fill(`${await obs.inputValue()}\n\nTablet A: the kitchen had been repainted.`);
  await a.page.getByRole("radio", { name: /^Medium/ }).check();
  await a.page.getByRole("button", { name: "Save draft" }).click();
  await a.page.getByText("Draft saved on this tablet.").waitFor();

  await openVisit(b.page, visitId);
  const voice = b.page.getByLabel("The child's voice");
  await voice.fill(`${await voice.inputValue()} Tablet B: she wants to see her grandmother more.`);
  await b.page.getByRole("radio", { name: /^High/ }).check();
  await b.page.getByRole("button", { name: "Save draft" }).click();
  await b.page.getByText("Draft saved on this tablet.").waitFor();

  // Online: A, then B (the server merges), then A again (receives the merge).
  for (const t of [a, b]) {
    await t.context.setOffline(false);
    await t.page.waitForFunction(() => navigator.onLine);
  }
  const syncs = [await syncNow(a.page), await syncNow(b.page), await syncNow(a.page)];
  const seenA = await readVisit(a.page, visitId);
  const seenB = await readVisit(b.page, visitId);
  await b.page.goto(appUrl("#/sync"));
  await b.page.getByRole("heading", { name: /Merged with other edits/ }).waitFor();
  const mergesB = await b.page.locator("#merge-list li").count();
  const a11y = [];
  await checkScreen(b.page, "sync, merged", a11y);

  // The supervisor decides the risk level, choosing tablet A's "medium".
  const desk = await tablet(browser);
  await signIn(desk.page, supervisor);
  await desk.page.getByRole("heading", { name: "Review queue" }).waitFor();
  const { token } = await restLogin(practitioner);
  const { case_number: caseNumber } = await rest(`cases/${encodeURIComponent(caseId)}/`, { token });
  const conflictRow = desk.page.locator("section[aria-labelledby=q-conflicts] tbody tr", { hasText: caseNumber })
    .filter({ hasText: "Risk level" });
  await conflictRow.first().waitFor();
  await conflictRow.first().getByRole("link").click();
  await desk.page.getByRole("heading", { name: /^Decide/ }).waitFor();
  await checkScreen(desk.page, "conflict, side by side", a11y);
  await screenshot(desk.page, "review-conflict");
  const columns = await desk.page.locator(".compare-col").allInnerTexts();
  const mediumIndex = await desk.page.locator(".compare-col:not(.compare-col--base)").evaluateAll(
    (cols) => cols.findIndex((c) => /medium/i.test(c.innerText)));
  await desk.page.locator(".compare-col:not(.compare-col--base)").nth(mediumIndex).getByRole("radio").check();
  await desk.page.getByRole("button", { name: "Record decision" }).click();
  await desk.page.getByText("Decision recorded.").waitFor();

  await syncNow(a.page);
  await syncNow(b.page);
  const decidedA = await readVisit(a.page, visitId);
  const decidedB = await readVisit(b.page, visitId);

  // Both rewrite the same sentence of the analysis offline: the merged text names who wrote
  // each version (names and local times, no ids), and the supervisor keeps both, with a reason.
  for (const [t, text] of [[a, "Tablet A: needs are met; the school reports good attendance."],
    [b, "Tablet B: needs are met, but mum is struggling with the baby."]]) {
    await t.context.setOffline(true);
    await openVisit(t.page, visitId);
    await t.page.getByLabel("Analysis").fill(text);
    await t.page.getByRole("button", { name: "Save draft" }).click();
    await t.page.getByText("Draft saved on this tablet.").waitFor();
  }
  for (const t of [a, b]) {
    await t.context.setOffline(false);
    await t.page.waitForFunction(() => navigator.onLine);
  }
  await syncNow(a.page);
  await syncNow(b.page);
  await syncNow(a.page);
  await openVisit(a.page, visitId);
  const analysisMerged = await a.page.getByLabel("Analysis").inputValue();
  await desk.page.reload();
  await desk.page.getByRole("heading", { name: "Review queue" }).waitFor();
  const textRow = desk.page.locator("section[aria-labelledby=q-conflicts] tbody tr", { hasText: caseNumber })
    .filter({ hasText: "Analysis" });
  await textRow.first().waitFor();
  await textRow.first().getByRole("link").click();
  await desk.page.getByRole("heading", { name: /^Decide/ }).waitFor();
  const textColumns = await desk.page.locator(".compare-col:not(.compare-col--base) h2").allInnerTexts();
  await desk.page.getByLabel("Keep both versions, one after the other").check();
  await desk.page.getByRole("button", { name: "Record decision" }).click();
  const reasonAsked = await desk.page.locator(".error-summary").innerText();
  await desk.page.getByLabel(/^Reason/).fill("Both are true: the school and the health visitor agree.");
  await checkScreen(desk.page, "conflict, keep both with a reason", a11y);
  await desk.page.getByRole("button", { name: "Record decision" }).click();
  await desk.page.getByText("Decision recorded.").waitFor();
  await syncNow(a.page);
  const analysisDecided = (await readVisit(a.page, visitId)).text;
  await openVisit(a.page, visitId);
  const analysisKept = await a.page.getByLabel("Analysis").inputValue();

  return {
    visitId, marker, syncs, mergesB, columns, a11y,
    seenA: { ...seenA, text: undefined }, seenB: { ...seenB, text: undefined },
    pendingDecisionShown: seenA.text.includes("A supervisor will decide") || seenA.text.includes("Supervisor deciding") || seenA.text.includes("disagreed"),
    decidedA: { ...decidedA, text: undefined }, decidedB: { ...decidedB, text: undefined },
    analysisMerged, textColumns, reasonAsked, analysisKept, analysisDecidedShown: analysisDecided.length > 0,
    pageErrors: [...a.page.errors, ...b.page.errors, ...desk.page.errors],
  };
});
