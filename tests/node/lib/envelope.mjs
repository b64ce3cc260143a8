// The tablet's envelope module (clients/web/src/envelope.js), loaded after the resolution
// hook is in place so that its `@noble/hashes` import resolves from tests/node/node_modules.
import "./register.mjs";

const envelope = await import("../../../clients/web/src/envelope.js");
export default envelope;
