// Dates as the council counts them: statutory visit timescales in working days (weekends
// skipped, bank holidays counted as working days, as backend/cases/workdays.py), shown in
// British English.

/** "YYYY-MM-DD" of a Date in the tablet's local time. */
export function localDay(date = new Date()) {
  const p = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}`;
}

function parseDay(day) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}
const dayString = (date) => date.toISOString().slice(0, 10);

export function addWorkingDays(day, days) {
  const date = parseDay(day);
  let remaining = days;
  while (remaining > 0) {
    date.setUTCDate(date.getUTCDate() + 1);
    const wd = date.getUTCDay();
    if (wd !== 0 && wd !== 6) remaining--;
  }
  return dayString(date);
}

export function workingDaysBetween(start, end) {
  if (end < start) return -workingDaysBetween(end, start);
  const date = parseDay(start);
  const stop = parseDay(end);
  let count = 0;
  while (date < stop) {
    date.setUTCDate(date.getUTCDate() + 1);
    const wd = date.getUTCDay();
    if (wd !== 0 && wd !== 6) count++;
  }
  return count;
}

/** When the next statutory visit is due and whether it is overdue (as visit_timescale). */
export function visitTimescale({ lastVisitOn, openedOn, frequencyDays, status, today = localDay() }) {
  const since = lastVisitOn || openedOn || today;
  const due = addWorkingDays(since, frequencyDays || 20);
  const overdue = status === "open" && due < today;
  return { lastVisitOn, due, overdue, daysOverdue: overdue ? workingDaysBetween(due, today) : 0 };
}

const dayFormat = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
const dateTimeFormat = new Intl.DateTimeFormat("en-GB", {
  day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
});
const timeFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit" });

export const formatDay = (day) => (day ? dayFormat.format(parseDay(day.slice(0, 10))) : "—");
export const formatDateTime = (iso) => (iso ? dateTimeFormat.format(new Date(iso)) : "—");

/** "today at 14:05", "yesterday at 09:12" or a full date. */
export function formatWhen(iso) {
  if (!iso) return "never";
  const date = new Date(iso);
  const today = localDay();
  const day = localDay(date);
  if (day === today) return `today at ${timeFormat.format(date)}`;
  const y = new Date(); y.setDate(y.getDate() - 1);
  if (day === localDay(y)) return `yesterday at ${timeFormat.format(date)}`;
  return dateTimeFormat.format(date);
}

/** Age in whole years on `today` from a "YYYY-MM-DD" birth date. */
export function ageOn(dob, today = localDay()) {
  if (!dob) return null;
  const [by, bm, bd] = dob.split("-").map(Number);
  const [ty, tm, td] = today.split("-").map(Number);
  return ty - by - (tm < bm || (tm === bm && td < bd) ? 1 : 0);
}

/** Value for <input type="datetime-local"> from an ISO instant, in local time. */
export function toLocalInput(iso) {
  const d = iso ? new Date(iso) : new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${localDay(d)}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
export const fromLocalInput = (value) => new Date(value).toISOString();
export const nowIso = () => new Date().toISOString();

/** "14:32" today, else "3 Dec 2026, 14:32": when a form in progress was last kept. */
export function formatSince(iso) {
  const date = new Date(iso);
  return localDay(date) === localDay() ? timeFormat.format(date) : dateTimeFormat.format(date);
}
