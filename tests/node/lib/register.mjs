// `node --import ./lib/register.mjs …` (or import it first): installs resolve-hooks.mjs.
import { register } from "node:module";

register("./resolve-hooks.mjs", import.meta.url);
