// Node module resolution hook for the conformance scripts.
//
// clients/web/src/envelope.js is the tablet's own module and imports its one dependency by
// its bare name (`@noble/hashes/scrypt.js`), as the PWA's bundler expects. Node resolves a
// bare specifier from the importing file's folder upwards: clients/web/node_modules when the
// web app's dependencies are installed (`make web`), else nothing. The test peers' own
// dependencies live in tests/node/node_modules (`make node-deps`, pinned in
// tests/node/package-lock.json, @noble/hashes included). So that the conformance tests do not
// depend on the web app's install, this hook retries a bare specifier that failed to resolve
// from tests/node. The module under test is loaded byte for byte as the tablet ships it.
const HERE = new URL("../package.json", import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const bare = !/^(?:[./]|[a-z][a-z0-9+.-]*:)/i.test(specifier);
    if (!bare || error?.code !== "ERR_MODULE_NOT_FOUND") throw error;
    return nextResolve(specifier, { ...context, parentURL: HERE });
  }
}
