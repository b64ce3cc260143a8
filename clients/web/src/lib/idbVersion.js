// PouchDB's "indexeddb" adapter opens its database asking for IndexedDB version
// 2·10^13 + Date.now() (it changes the version to add native indexes). If the tablet's clock has
// gone back since the last open, IndexedDB refuses: "The requested version (…) is less than the
// existing version (…)", and the replica cannot be opened at all. Installed once, this makes each
// such open ask for at least one more than the version the database already has, whatever the
// clock says: the adapter's own upgrade path runs as before and no local data is touched.
const POUCH_VERSIONS = 1e13; // the adapter's versions are all above this; others are left alone
const known = new Map(); // database name -> the highest version it has (or was last asked for)
let installed = false;

export function installClockProofOpen(factory = globalThis.indexedDB) {
  if (installed || !factory) return;
  installed = true;
  const proto = Object.getPrototypeOf(factory);
  const open = proto.open;
  proto.open = function openAtLeastCurrent(name, version) {
    if (typeof version === "number" && version >= POUCH_VERSIONS) {
      const floor = known.get(name) ?? 0;
      if (version <= floor) version = floor + 1;
      known.set(name, version);
    }
    return open.call(this, name, version);
  };
}

/** Learn the version each database has now; call before PouchDB opens one. Browsers without
 * `indexedDB.databases()` keep the adapter's own behaviour. */
export async function learnDatabaseVersions(factory = globalThis.indexedDB) {
  let list = [];
  try { list = (await factory?.databases?.()) ?? []; } catch { /* not supported */ }
  for (const { name, version } of list) {
    if (typeof version === "number" && version > (known.get(name) ?? 0)) known.set(name, version);
  }
}
