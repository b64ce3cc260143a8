// Edit times by the server's clock. A tablet's own clock can be wrong by days (a flat battery,
// a manual change, a bad time zone); the `latest` merge rules compare edit times, so each edit is
// stamped with the device time corrected by the offset learnt from the server at the last sync,
// and the device's own reading is kept beside it (`updated_at_device`). The rule, in full, is in
// docs/sync-protocol.md ("Edit times").

let offset = { ms: 0, learntAt: null, source: null };

/** The offset in use: server clock minus device clock, in ms, and when and how it was learnt. */
export const clockOffset = () => offset;

/** Use an offset stored earlier (the replica's sync state) or just learnt. */
export function setClockOffset(value) {
  offset = value && Number.isFinite(value.ms) ? { ms: value.ms, learntAt: value.learntAt ?? null, source: value.source ?? null }
    : { ms: 0, learntAt: null, source: null };
}

/**
 * Offset from one exchange with the server: `serverMs` read by the server between `sentAt` and
 * `receivedAt` (device clock). The server's reading is taken to fall half-way through the round
 * trip. `resolutionMs` is how much the server's reading may have been truncated (an HTTP Date
 * header has whole seconds, so on average it is half a second behind).
 */
export function offsetFromExchange({ serverMs, sentAt, receivedAt, resolutionMs = 0 }) {
  return Math.round(serverMs + resolutionMs / 2 - (sentAt + receivedAt) / 2);
}

/** The device clock's reading now, as ISO 8601. */
export const deviceNow = () => new Date().toISOString();

/** The device clock corrected by the learnt offset: what edit times are stamped with. */
export const correctedNow = () => new Date(Date.now() + offset.ms).toISOString();
