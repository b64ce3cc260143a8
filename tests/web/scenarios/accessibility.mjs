// axe-core on every main screen, in landscape (1024×768) and portrait (768×1024), including
// their error states; then a visit recorded with the keyboard alone.
import { PASSPHRASE, appUrl, checkScreen, config, enrol, run, screenshot, signIn, tablet, unlock } from "../lib/harness.mjs";

run(async (browser) => {
  const { practitioner, supervisor, caseId } = config.a11y;
  const results = [];
  const { page } = await tablet(browser);

  const check = (screen) => checkScreen(page, screen, results);

  // Signing in and setting up.
  await page.goto(appUrl());
  await page.getByRole("heading", { name: "Sign in to Doorstep" }).waitFor();
  await check("sign-in");
  await screenshot(page, "sign-in");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator(".error-summary").waitFor();
  await check("sign-in, errors");
  await signIn(page, practitioner);
  await page.getByRole("heading", { name: "Set up this tablet" }).waitFor();
  await check("set up tablet");
  await screenshot(page, "set-up-tablet");
  await page.getByLabel("Passphrase", { exact: true }).fill("short");
  await page.getByRole("button", { name: "Set up tablet" }).click();
  await page.locator(".error-summary").waitFor();
  await check("set up tablet, errors");
  await page.getByRole("button", { name: "Cancel" }).click();
  await enrol(page, practitioner, { name: "Accessibility tablet" });

  // The practitioner's screens.
  await check("caseload");
  await page.goto(appUrl(`#/case/${encodeURIComponent(caseId)}`));
  await page.getByRole("heading", { name: "Visits" }).waitFor();
  await check("case");
  const signedOff = page.locator("table.visits tr", { hasText: "Signed off" }).locator("a").first();
  if (await signedOff.count()) {
    await signedOff.click();
    await page.getByText(/^Signed off on /).waitFor();
    await check("visit, signed off");
  }
  await page.goto(appUrl(`#/case/${encodeURIComponent(caseId)}/visit/new`));
  await page.getByRole("heading", { name: "Record a visit" }).waitFor();
  await check("visit form");
  await page.getByRole("button", { name: "Submit for sign-off" }).click();
  await page.locator(".error-summary").waitFor();
  await check("visit form, errors");
  await screenshot(page, "visit-form-errors");
  await page.goto(appUrl("#/sync"));
  await page.getByRole("heading", { name: "Sync" }).waitFor();
  await check("sync");
  await page.getByRole("button", { name: "Lock" }).click();
  await page.getByRole("heading", { name: "Unlock Doorstep" }).waitFor();
  await check("unlock");
  await page.getByLabel("Passphrase").fill("wrong passphrase here");
  await page.getByRole("button", { name: "Unlock" }).click();
  await page.locator(".error-summary").waitFor();
  await check("unlock, wrong passphrase");
  await unlock(page, PASSPHRASE);
  await page.getByRole("heading", { name: "Sync" }).waitFor();

  // Keyboard only: from the case page, record and submit a visit without the mouse.
  await page.goto(appUrl(`#/case/${encodeURIComponent(caseId)}`));
  await page.getByRole("heading", { name: "Visits" }).waitFor();
  const keyboard = await recordWithKeyboard(page);

  // The supervisor's screens.
  const desk = await tablet(browser);
  await signIn(desk.page, supervisor);
  await desk.page.getByRole("heading", { name: "Review queue" }).waitFor();
  const queuePage = desk.page;
  const checkDesk = (screen) => checkScreen(queuePage, screen, results);
  await checkDesk("review queue");
  const firstVisit = queuePage.locator("section[aria-labelledby=q-awaiting] tbody a").first();
  if (await firstVisit.count()) {
    await firstVisit.click();
    await queuePage.getByRole("heading", { name: "Your decision" }).waitFor();
    await checkDesk("review visit");
    await queuePage.getByRole("button", { name: "Return to worker" }).click();
    await queuePage.locator(".error-summary").waitFor();
    await checkDesk("review visit, errors");
  }

  return { results, keyboard, pageErrors: [...page.errors, ...desk.page.errors] };
});

/** Tab through the visit form answering each control with keys only; record the focus order
 * and whether every focused control showed a visible focus indicator. */
async function recordWithKeyboard(page) {
  const focus = () => page.evaluate(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const visible = (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0) || style.boxShadow !== "none";
    const labelled = el.labels?.length ? el.labels[0].innerText : el.getAttribute("aria-label") || el.innerText;
    return { id: el.id, tag: el.tagName, type: el.type || "", text: (labelled || "").trim().slice(0, 60), checked: el.checked ?? null, visible };
  });
  const order = [];
  const press = async (key) => { await page.keyboard.press(key); };

  // Find "Record a visit" by tabbing from the top of the page.
  for (let i = 0; i < 40; i++) {
    await press("Tab");
    const f = await focus();
    if (f.text === "Record a visit") break;
  }
  await press("Enter");
  await page.getByRole("heading", { name: "Record a visit" }).waitFor();
  // Each screen moves focus to its heading; tabbing starts from there.
  await page.waitForFunction(() => document.activeElement?.tagName === "H1" && document.activeElement.textContent === "Record a visit");

  const answered = new Set();
  let submitted = false;
  for (let i = 0; i < 160 && !submitted; i++) {
    await press("Tab");
    const f = await focus();
    order.push({ id: f.id || f.text, visible: f.visible });
    if (f.id === "visit_type-statutory" && !answered.has("type")) { await press("Space"); answered.add("type"); }
    else if (/^seen-\d+-true$/.test(f.id) && !answered.has(f.id)) { await press("Space"); answered.add(f.id); }
    else if (/^alone-\d+-true$/.test(f.id) && !answered.has(f.id)) { await press("Space"); answered.add(f.id); }
    else if (f.id === "observations") await page.keyboard.type("Seen at home; typed with the keyboard only.");
    else if (f.id === "child_voice") await page.keyboard.type("He said school is fun.");
    else if (f.text === "Add an action" && !answered.has("action")) {
      await press("Enter");
      answered.add("action");
      await page.waitForFunction(() => document.activeElement?.id === "action-0-text");
      await page.keyboard.type("Call the school about attendance");
      order.push({ id: "action-0-text", visible: (await focus()).visible });
    } else if (f.id === "action-0-owner") await page.keyboard.type("social worker");
    else if (f.id.startsWith("risk_level-") && !answered.has("risk")) { await press("ArrowDown"); answered.add("risk"); }
    else if (f.text === "Submit for sign-off") { await press("Enter"); submitted = true; }
  }
  let outcome = "not submitted";
  if (submitted) {
    await page.getByText(/Visit submitted for sign-off/).waitFor({ timeout: 10_000 }).then(() => { outcome = "submitted"; }, () => {});
    if (outcome !== "submitted" && await page.locator(".error-summary").count()) outcome = `errors: ${await page.locator(".error-summary").innerText()}`;
  }
  const ids = order.map((o) => o.id);
  return {
    outcome,
    tabStops: order.length,
    reached: ["visit_date", "visit_type-statutory", "observations", "child_voice", "action-0-text", "risk_concerns"].filter((id) => ids.includes(id)),
    withoutVisibleFocus: order.filter((o) => !o.visible).map((o) => o.id),
    order: ids,
  };
}
