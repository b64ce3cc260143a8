// What the practitioner screens show, built from the local replica: the caseload list (from
// the clear index plus one decrypted case document per case) and one case in full.
import { MissingKey } from "./vault.js";
import { localDay, visitTimescale } from "./dates.js";
import { personName } from "./directory.js";

const byDateDesc = (a, b) => (b.visit_date || "").localeCompare(a.visit_date || "");

function groupByCase(index) {
  const cases = new Map();
  for (const [id, entry] of Object.entries(index.docs)) {
    let group = cases.get(entry.c);
    if (!group) cases.set(entry.c, (group = { id: entry.c, meta: null, visits: [], people: [], notes: [], addenda: [] }));
    if (entry.t === "case") group.meta = entry.m;
    else if (entry.t === "visit") group.visits.push({ id, ...entry.m });
    else if (entry.t === "person") group.people.push(id);
    else if (entry.t === "note") group.notes.push({ id, ...entry.m });
    else if (entry.t === "addendum") group.addenda.push({ id, ...entry.m });
  }
  return cases;
}

/** Date of the latest visit that counts towards the statutory timescale (not a draft, not in
 * the future), as the server's projection does. */
function lastVisitOn(visits, now = new Date().toISOString()) {
  let latest = null;
  for (const v of visits) {
    if (v.status === "draft" || !v.visit_date || v.visit_date > now) continue;
    if (!latest || v.visit_date > latest) latest = v.visit_date;
  }
  return latest ? localDay(new Date(latest)) : null;
}

async function openOrNull(vault, doc) {
  try {
    return await vault.open(doc);
  } catch (err) {
    if (err instanceof MissingKey) return null;
    return null; // a body that does not decrypt is shown as unreadable, never guessed at
  }
}

function timescaleOf(meta, visits, today) {
  return visitTimescale({
    lastVisitOn: lastVisitOn(visits),
    openedOn: meta?.opened_on,
    frequencyDays: meta?.visit_frequency_days,
    status: meta?.status,
    today,
  });
}

/** Rows of the caseload list, overdue first, then by next visit due. */
export async function caseloadRows({ replica, vault, me }) {
  const [index, state] = await Promise.all([replica.loadIndex(), replica.loadState()]);
  const groups = groupByCase(index);
  const today = localDay();
  const caseDocs = await replica.getMany([...groups.values()].filter((g) => g.meta).map((g) => g.id));
  const contents = await Promise.all(caseDocs.map((doc) => openOrNull(vault, doc)));
  const opened = new Map(caseDocs.map((doc, i) => [doc._id, contents[i]]));
  const rows = [];
  for (const group of groups.values()) {
    if (!group.meta) continue;
    const content = opened.get(group.id);
    const timescale = timescaleOf(group.meta, group.visits, today);
    const ids = [group.id, ...group.visits.map((v) => v.id), ...group.people, ...group.notes.map((n) => n.id)];
    rows.push({
      id: group.id,
      caseNumber: group.meta.case_number,
      caseType: group.meta.case_type,
      status: group.meta.status,
      familyName: content?.family_name ?? null,
      town: content?.address?.town ?? "",
      timescale,
      drafts: group.visits.filter((v) => v.status === "draft" && v.author === me).length,
      returned: group.visits.filter((v) => v.status === "returned").length,
      submitted: group.visits.filter((v) => v.status === "submitted").length,
      waiting: ids.filter((id) => state.pending[id]).length,
      refused: ids.filter((id) => state.refused[id]).length,
      needsDecision: group.visits.some((v) => (v.decisions_pending || []).length > 0),
    });
  }
  rows.sort((a, b) =>
    (a.status === "open" ? 0 : 1) - (b.status === "open" ? 0 : 1)
    || Number(b.timescale.overdue) - Number(a.timescale.overdue)
    || a.timescale.due.localeCompare(b.timescale.due)
    || (a.caseNumber || "").localeCompare(b.caseNumber || ""));
  return rows;
}

/** One case: its family summary, people, visit history and notes, decrypted. */
export async function caseDetail({ replica, vault, caseId }) {
  const [index, state] = await Promise.all([replica.loadIndex(), replica.loadState()]);
  const group = groupByCase(index).get(caseId);
  if (!group || !group.meta) return null;
  const [caseDoc] = await replica.getMany([caseId]);
  const content = caseDoc ? await openOrNull(vault, caseDoc) : null;
  const peopleDocs = await replica.getMany(group.people);
  const people = [];
  for (const doc of peopleDocs) people.push({ id: doc._id, ...((await openOrNull(vault, doc)) || { unreadable: true, ...doc.meta }) });
  const order = { child: 0, parent: 1, carer: 2, sibling: 3, other_adult: 4, professional: 5 };
  people.sort((a, b) => (order[a.role] ?? 9) - (order[b.role] ?? 9) || (a.full_name || "").localeCompare(b.full_name || ""));
  const noteDocs = await replica.getMany(group.notes.map((n) => n.id));
  const notes = [];
  for (const doc of noteDocs) notes.push({ id: doc._id, ...((await openOrNull(vault, doc)) || { unreadable: true }) });
  notes.sort((a, b) => (b.occurred_at || "").localeCompare(a.occurred_at || ""));
  const visits = group.visits
    .map((v) => ({ ...v, waiting: Boolean(state.pending[v.id]), refused: state.refused[v.id] || null }))
    .sort(byDateDesc);
  return {
    id: caseId,
    meta: group.meta,
    content,
    unreadable: !content,
    canWrite: vault.hasCase(caseId),
    timescale: timescaleOf(group.meta, group.visits, localDay()),
    people,
    visits,
    notes,
    addenda: group.addenda,
    waiting: Boolean(state.pending[caseId]),
  };
}

/** Label for a user reference: "you", their name and role from the directory, or "a colleague". */
export const who = (ref, me) => personName(ref, me);
