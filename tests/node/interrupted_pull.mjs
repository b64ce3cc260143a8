// A large pull cut off by the server's death, then resumed from PouchDB's checkpoint.
// The fetch wrapper holds the `hold_at`-th _bulk_get and says "holding"; pytest SIGKILLs the
// server and answers on stdin, so the held request (and the replication) fails against a dead
// server. pytest restarts the server and answers again; the same PouchDB (same memory
// database, same replication id) replicates again. _bulk_get documents are counted when the
// server answered them.
// params: {url, token, batch_size, hold_at}
import { Traffic, emit, localDb, remoteDb, replicate, run, stdinLines } from "./lib/peer.mjs";

run(async (p) => {
  const lines = stdinLines();
  const traffic = new Traffic();
  let bulkGets = 0;
  let released = false;
  traffic.hooks.beforeRequest = async (name) => {
    if (name !== "_bulk_get" || released) return;
    bulkGets += 1;
    if (bulkGets === p.hold_at) {
      emit({ event: "holding", bulk_get_docs: traffic.bulkGetDocs, requests: { ...traffic.requests } });
      await lines.next();
      released = true;
    }
  };
  const remote = remoteDb(p.url, p.token, traffic);
  const local = localDb("tablet-interrupted");
  const options = { batch_size: p.batch_size };

  const first = await replicate(remote, local, options);
  const firstDocs = traffic.bulkGetDocs;
  emit({ event: "interrupted", result: first, bulk_get_docs: firstDocs, local_docs: (await local.info()).doc_count });

  await lines.next(); // the server is back
  // A new handle on the same URL (so the same replication id) with its own request counts.
  const again = remoteDb(p.url, p.token);
  const second = await replicate(again, local, options);
  const all = await local.allDocs({ include_docs: true, conflicts: true });
  lines.close();
  return {
    event: "final",
    first,
    second,
    first_bulk_get_docs: firstDocs,
    second_bulk_get_docs: again.traffic.bulkGetDocs,
    second_run_since: again.traffic.changesSince,
    docs: all.rows.map((r) => ({ id: r.id, rev: r.value.rev, conflicts: r.doc._conflicts ?? [] })),
    local_doc_count: (await local.info()).doc_count,
  };
});
