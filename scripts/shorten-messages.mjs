// Shortens the long diagnostic messages of wasm-bindgen's generated init code in the package's
// JS, and replaces glue code the package does not need (below):
// `node scripts/shorten-messages.mjs pkg/silent_refresh.js`. The messages keep what a developer
// needs (what went wrong, what to pass instead) in fewer bytes: every byte of the package
// counts (scripts/build-browser.sh). Each message must be found: else this fails (a new
// wasm-bindgen changed them, and this list must follow).
import fs from "node:fs";

const [path] = process.argv.slice(2);
let js = fs.readFileSync(path, "utf8");
const messages = [
  ["`WebAssembly.instantiateStreaming` failed because your server does not serve Wasm with `application/wasm` MIME type. Falling back to `WebAssembly.instantiate` which is slower. Original error:\\n",
    "silent-refresh: serve the .wasm as application/wasm (falling back to a slower instantiate):"],
  ["`failed to fetch Wasm: ${module.status} ${module.statusText} fetching '${module.url}'`",
    "`silent-refresh: ${module.status} fetching ${module.url}`"],
  ["using deprecated parameters for `initSync()`; pass a single object instead",
    "silent-refresh: initSync({ module })"],
  ["using deprecated parameters for the initialization function; pass a single object instead",
    "silent-refresh: init({ module_or_path })"],
];
// Code of the glue the package does not need, replaced: wasm-bindgen decodes the strings Rust
// passes to JS with a TextDecoder, renewed every 2 GB decoded (a Safari limit). The package
// passes only ASCII literals (the member names of `get` in src/browser/js.rs and wasm-bindgen's
// own `throw_str` messages), so one code unit per byte decodes them exactly.
messages.push([`let cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
cachedTextDecoder.decode();
const MAX_SAFARI_DECODE_BYTES = 2146435072;
let numBytesDecoded = 0;
function decodeText(bytes) {
    numBytesDecoded += bytes.length;
    if (numBytesDecoded >= MAX_SAFARI_DECODE_BYTES) {
        cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
        cachedTextDecoder.decode();
        numBytesDecoded = bytes.length;
    }
    return cachedTextDecoder.decode(bytes);
}`, "const decodeText = (bytes) => String.fromCharCode(...bytes);"]);
for (const [long, short] of messages) {
  if (!js.includes(long)) throw new Error(`shorten-messages: not found in ${path}: ${long}`);
  js = js.replace(long, short);
}
fs.writeFileSync(path, js);
