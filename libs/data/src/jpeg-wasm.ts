/**
 * JPEG decoding in WebAssembly, for images that are already what the loader asks for (folder.ts
 * `jpegDecodesAsIs`: size x size, 8-bit, three components, Huffman, no EXIF, ICC or Adobe segment).
 *
 * Why: sharp (libvips) costs ~0.5-0.8 ms of CPU per call whatever the image's size, most of it in
 * setting up the pipeline; a 16 px image's own decoding is a few microseconds. Decoding the quick
 * study's 3,297 images took ~2.8 s of the coordinator's CPU on a cold cache. This decoder is mozjpeg
 * (the libjpeg-turbo derivative sharp itself bundles) built for WebAssembly by @jsquash/jpeg
 * (Squoosh's codec), called without libvips: ~0.07 ms per 16 px image.
 *
 * The same pixels as sharp: both run libjpeg's default decoder (integer IDCT, fancy upsampling).
 * Checked bit for bit on baseline and progressive files, 4:2:0, 4:2:2 and 4:4:4, restart markers,
 * qualities 40-100, 16-224 px, from sharp's encoders and from libjpeg-turbo's cjpeg (folder.spec.ts
 * keeps a set of these).
 *
 * Only a clean decode counts. libjpeg reports a truncated file with a warning and still returns an
 * image (grey where the data stopped), and fatal errors end its "program": any warning or error
 * returns null, and the caller decodes with sharp, which reports the file as the loader always has.
 * After an error the instance is dropped and a new one made at the next call.
 */
import * as fs from 'fs';
import decode, * as decoder from '@jsquash/jpeg/decode.js';

/** `init` as its JavaScript takes it (the .d.ts declares only the options): a compiled module, then Emscripten's module options. */
const init = decoder.init as unknown as (module: unknown, options: { print(line: string): void; printErr(line: string): void }) => Promise<void>;
/** The part of the WebAssembly global used here (the project's TypeScript libs do not declare it). */
const wasmApi = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<unknown> } }).WebAssembly;

/** An image as the decoder gives it: RGBA, 8 bits per channel, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

let compiled: Promise<unknown> | null = null;
/** The previous call: each waits for it, so one call's messages are never another's. */
let queue: Promise<unknown> = Promise.resolve();
let ready: Promise<void> | null = null;
/** Warnings and errors libjpeg printed during the current call. */
let messages: string[] = [];

function instance(): Promise<void> {
  compiled ??= fs.promises.readFile(require.resolve('@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm')).then((bytes) => wasmApi.compile(bytes));
  ready ??= compiled.then((module) =>
    init(module, {
      print: (line: string) => messages.push(line),
      printErr: (line: string) => messages.push(line),
    }),
  );
  return ready;
}

/**
 * Decodes a JPEG with mozjpeg in WebAssembly; null when libjpeg warned or failed (decode it with
 * sharp instead, which names the problem). Calls are serialised: the decoder is synchronous inside.
 */
export function decodeJpegWasm(bytes: Uint8Array): Promise<RgbaImage | null> {
  const call = queue.then(() => decodeNow(bytes));
  queue = call.catch(() => undefined);
  return call;
}

async function decodeNow(bytes: Uint8Array): Promise<RgbaImage | null> {
  messages = [];
  try {
    await instance();
    // The codec copies the input into its own memory before anything else runs.
    const img = await decode(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    if (messages.length > 0) return null;
    return { width: img.width, height: img.height, data: img.data };
  } catch {
    // A fatal libjpeg error (or a decoder that could not load): sharp decodes this one.
    ready = null;
    return null;
  } finally {
    messages = [];
  }
}
