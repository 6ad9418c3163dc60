// Jest transform for the dependencies published only as ES modules (@jsquash/jpeg): Jest runs the
// tests as CommonJS, so SWC rewrites them to it, as it does our TypeScript. SWC rewrites reads of
// import.meta.url but leaves one assignment in Emscripten's glue (`import.meta.url = ...` under a
// condition that is never true in Node), which CommonJS cannot parse: it becomes a no-op.
const { transformSync } = require('@swc/core');

module.exports = {
  process(source, filename) {
    const { code, map } = transformSync(source, { filename, sourceMaps: true, jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' }, module: { type: 'commonjs' } });
    return { code: code.replace(/\bimport\.meta\.url\s*=/g, 'void'), map };
  },
};
