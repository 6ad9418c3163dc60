/**
 * Two replicas on one host exchange their vectors through a file in shared memory (/dev/shm, a
 * tmpfs) instead of through a socket (peers.ts `beginExchange`).
 *
 * Why: through ZeroMQ on tcp loopback, a 64 px classifier's 8.5 MB gradient took 30-40 ms to cross
 * each way between two trainers on the 2-core machine (framing, the I/O threads and the kernel's
 * socket copies, all competing with the trainers for the same cores), against a step of ~75 ms.
 * Written to a tmpfs file with one pwrite and read back by the other replica with one pread it
 * takes ~2 ms each way: two memory copies, no socket. Only a small `grad-shared` message (where the
 * vector is) goes over ZeroMQ, and for a swap only to a replica that waits for it (below).
 *
 * Which peers: each PeerLink that can use a shared folder advertises a host key and its own id with
 * its address (`tcp://host:port#shm=<key>.<id>`). The key names the memory behind the folder: the
 * kernel's boot id and the folder's device and inode, so two containers with their own /dev/shm, or
 * two hosts, never match. Both replicas decide from the same two keys, so they always agree on the path.
 *
 * Files: each replica receives into a file of its own per job attempt, `gan-study-peer-<id>-<attempt
 * hash>.f32`, which the other replica writes (and creates, if it comes first): the note that a
 * vector is there carries only an offset, so a replica reads no file a peer names. The file holds
 * four slots, used by call number in turn (`seq` % 4), each as long as the longest vector written to
 * the file so far: a longer one starts four new slots past the old ones, so no write lands on a
 * vector the other may still be reading. Four suffice for a job that swaps once or twice per step
 * (Classifier.pairStep sends a layer's factors during its backward pass, the rest after it): a
 * replica reads the other's call seq before it sends its own call seq + 2, and writes call seq + 4
 * only once it has the other's call seq + 2 (its note, or its mark, below). Each slot ends with a
 * 16-byte mark written after the vector (a tag and the call's number), so that a replica that
 * writes vectors as long as the other's, call for call, finds the other's vector at the offset of
 * its own (`has`) without waiting for the note: pairStep takes a vector that came during its
 * backward pass at once, not an event-loop turn later.
 *
 * Notes only for a replica that waits (PeerLink.swap): the slots begin after a 64-byte header, where
 * the replica that writes into the file (the receiver of the other file) says which call it waits
 * for (`waitFor`: a tag and the call's number + 1, twice, so a torn read shows as such). A writer
 * reads that flag in its own receiving file right after it wrote its vector and mark (`waiting`), and
 * sends the note only when the other waits for this call or a later one. The waiter writes its flag,
 * then looks for the mark once more: of the two orders (mark, then the flag read; flag, then the
 * mark read) one always sees the other's write, so the waiter either finds the vector or gets the
 * note. (Each is a pwrite or pread on a tmpfs file, whose page locking orders them; the waiter also
 * looks for the mark again every few ms, so a note missed all the same costs that long, not the
 * call.) The receiver removes the file when the
 * attempt ends (every write of the attempt came before a note or a mark it has read), all its files when the
 * link stops and at process exit; files of a killed process are removed by the next link that starts
 * in the folder, once an hour has passed since their last write and their process is gone.
 */
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The environment variable that picks the shared folder: '0' turns the shared path off. */
export const PEER_SHM_ENV = 'GAN_STUDY_PEER_SHM';
const DEFAULT_DIR = '/dev/shm';
const FILE_RE = /^gan-study-peer-(\d+)-[0-9a-f]{12}-[0-9a-f]{12}\.f32$/;
const LINK_ID_RE = /^\d+-[0-9a-f]{12}$/;
const OPEN_FLAGS = fs.constants.O_RDWR | fs.constants.O_CREAT;
/** A file of a dead process is left this long after its last write before another link removes it. */
const STALE_MS = 3_600_000;
/** Slots per receiving file, used by call number in turn (see the header). */
const SLOTS = 4;
/** A slot's mark after its vector: this tag, then the call's number + 1 (a file's zeros are no mark), as two float64. */
const MARK_TAG = 0x47414e31;
const MARK_BYTES = 16;
/** A file's header before its slots: the wait flag, this tag then the call's number + 1 twice, as three float64 (see the header). */
const HEADER_BYTES = 64;
const WAIT_TAG = 0x47414e57;
const WAIT_BYTES = 24;

/**
 * The folder for shared exchange files: `GAN_STUDY_PEER_SHM` when set ('0' or '' for none), else
 * /dev/shm when it is a writable folder, else none (the exchange goes over the socket).
 */
export function sharedDirFromEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  const v = env[PEER_SHM_ENV];
  if (v !== undefined) {
    if (v === '0' || v === '') return null;
    return path.resolve(v);
  }
  try {
    fs.accessSync(DEFAULT_DIR, fs.constants.W_OK);
    return fs.statSync(DEFAULT_DIR).isDirectory() ? DEFAULT_DIR : null;
  } catch {
    return null;
  }
}

/** The host key of a shared folder (see the header); throws when the folder is not a writable folder. */
export function sharedHostKey(dir: string): string {
  const st = fs.statSync(dir);
  if (!st.isDirectory()) throw new Error(`shared exchange folder ${dir} is not a folder`);
  fs.accessSync(dir, fs.constants.W_OK);
  let boot = '';
  try {
    boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // not Linux: the hostname stands in for the boot id
  }
  return createHash('sha256')
    .update(`${boot || os.hostname()}:${st.dev}:${st.ino}`)
    .digest('hex')
    .slice(0, 16);
}

/** An advertised peer address: the ZeroMQ endpoint, and the host key and link id when it offers shared memory. */
export interface PeerAddress {
  endpoint: string;
  hostKey: string | null;
  linkId: string | null;
}

/** Splits an advertised peer address (see the header). */
export function parsePeerAddress(address: string): PeerAddress {
  const hash = address.indexOf('#');
  if (hash < 0) return { endpoint: address, hostKey: null, linkId: null };
  const m = /^shm=([0-9a-f]{16})\.(\d+-[0-9a-f]{12})$/.exec(address.slice(hash + 1));
  return { endpoint: address.slice(0, hash), hostKey: m ? m[1] : null, linkId: m ? m[2] : null };
}

/** A replica's receiving files in a shared folder, and the other replicas' files it writes into. */
export class SharedExchange {
  /** This link's id in file names and in its address. */
  readonly id = `${process.pid}-${randomBytes(6).toString('hex')}`;
  /** Open files per attempt key (`job#attempt`): this replica's own (`in`) and the ones it writes to. */
  private readonly open = new Map<string, Map<string, number>>();
  private readonly onExit = (): void => this.closeAll();
  /** 256 KiB: one block of the other's vector at a time, read and added while in the cache. */
  private readonly block = new Float32Array(65_536);
  /** Where the slots of each file this link writes begin, and how long each is (see the header). */
  private readonly layouts = new Map<string, { base: number; stride: number }>();
  /** A slot's mark, as written and as read back (and its bytes, for reads). */
  private readonly mark = new Float64Array(2);
  private readonly markBytes = new Uint8Array(this.mark.buffer);
  /** A wait flag, as written and as read back (and its bytes, for reads). */
  private readonly flag = new Float64Array(3);
  private readonly flagBytes = new Uint8Array(this.flag.buffer);
  /** File names per attempt key and link id (a hash each: made once, not on every call of a step). */
  private readonly names = new Map<string, Map<string, string>>();
  /** The highest call each file this link writes has been flagged as waited for (`waitFor`), per file. */
  private readonly flagged = new Map<string, number>();

  constructor(readonly dir: string) {
    process.on('exit', this.onExit);
    this.removeStale();
  }

  /** The address suffix that offers this folder to peers (parsePeerAddress reads it back). */
  addressSuffix(hostKey: string): string {
    return `#shm=${hostKey}.${this.id}`;
  }

  /**
   * Writes `data` (one vector, or its segments laid end to end) into slot seq % 4 of replica
   * `peerId`'s receiving file for the attempt, then the slot's mark (see the header); returns the
   * slot's byte offset.
   */
  writeTo(peerId: string, attemptKey: string, seq: number, data: Float32Array | readonly Float32Array[]): number {
    const segments = data instanceof Float32Array ? [data] : data;
    const offset = this.slot(peerId, attemptKey, seq, byteLengthOf(segments) / 4);
    const { fd, file } = this.fd(attemptKey, this.peerFile(peerId, attemptKey));
    let at = offset;
    for (const segment of segments) {
      writeFully(fd, segment, at, file);
      at += segment.byteLength;
    }
    // After the vector, in a write of its own: a replica that sees the mark finds the vector whole.
    this.mark[0] = MARK_TAG;
    this.mark[1] = seq + 1;
    writeFully(fd, this.mark, at, file);
    return offset;
  }

  /**
   * True when the other replica's vector of call `seq`, `length` floats, is at `offset` of this
   * replica's receiving file for the attempt: the slot's mark is there (see the header). One read
   * of 16 bytes; false when the file or the mark is not there yet, and when the file cannot be read
   * (the caller then waits for the note, whose read says what is wrong).
   */
  has(attemptKey: string, offset: number, length: number, seq: number): boolean {
    try {
      // Opened (made empty, if the other has not written yet) as the other opens it: O_CREAT.
      const { fd } = this.fd(attemptKey, this.fileOf(this.id, attemptKey));
      if (fs.readSync(fd, this.markBytes, 0, MARK_BYTES, offset + length * 4) !== MARK_BYTES) return false;
    } catch {
      return false;
    }
    return this.mark[0] === MARK_TAG && this.mark[1] === seq + 1;
  }

  /**
   * The byte offset of call `seq`'s slot, for a vector of `length` floats, in replica `peerId`'s
   * receiving file for the attempt (see the header); the file's layout grows here, as `writeTo`
   * needs it (asked twice, the same). A replica that writes vectors as long as the other's, call for
   * call, finds the other's vector at this offset of its own receiving file: where its own went, or
   * would have gone when its write failed.
   */
  slot(peerId: string, attemptKey: string, seq: number, length: number): number {
    const file = this.peerFile(peerId, attemptKey);
    const bytes = length * 4 + MARK_BYTES;
    let layout = this.layouts.get(file);
    if (!layout || bytes > layout.stride) {
      layout = { base: layout ? layout.base + SLOTS * layout.stride : HEADER_BYTES, stride: bytes };
      this.layouts.set(file, layout);
    }
    return layout.base + (seq % SLOTS) * layout.stride;
  }

  /**
   * Says that this replica waits for the other's vector of call `seq` (or an earlier one): the flag in
   * the header of replica `peerId`'s receiving file for the attempt, which this one writes into (see
   * the header). The flag only goes up; a call at or below it writes nothing.
   */
  waitFor(peerId: string, attemptKey: string, seq: number): void {
    const { fd, file } = this.fd(attemptKey, this.peerFile(peerId, attemptKey));
    if ((this.flagged.get(file) ?? -1) >= seq) return;
    this.flag[0] = WAIT_TAG;
    this.flag[1] = this.flag[2] = seq + 1;
    writeFully(fd, this.flag, 0, file);
    this.flagged.set(file, seq);
  }

  /** The highest call this replica has said it waits for from replica `peerId` in the attempt (`waitFor`), -1 for none. */
  waitedFor(peerId: string, attemptKey: string): number {
    return this.flagged.get(this.peerFile(peerId, attemptKey)) ?? -1;
  }

  /**
   * Whether the other replica may wait for this one's vector of call `seq`: its flag in this
   * replica's receiving file for the attempt says it waits for this call or a later one. False only
   * when the flag is read whole and says an earlier call, or is not there (the other has not waited
   * yet); true when it cannot be read or is torn, so that a note goes (one too many is dropped).
   */
  waiting(attemptKey: string, seq: number): boolean {
    const f = this.flag;
    let n: number;
    try {
      const { fd } = this.fd(attemptKey, this.fileOf(this.id, attemptKey));
      n = fs.readSync(fd, this.flagBytes, 0, WAIT_BYTES, 0);
    } catch {
      return true;
    }
    if (n < WAIT_BYTES || (f[0] === 0 && f[1] === 0 && f[2] === 0)) return false;
    if (f[0] !== WAIT_TAG || f[1] !== f[2]) return true;
    return f[1] - 1 >= seq;
  }

  /**
   * Reads the other replica's vector at `offset` of this replica's receiving file for the attempt
   * into `segments`, laid end to end (one read per segment: straight into the caller's memory, e.g.
   * tensors on the wasm heap).
   */
  readInto(attemptKey: string, offset: number, segments: readonly Float32Array[]): void {
    const { fd, file } = this.fd(attemptKey, this.fileOf(this.id, attemptKey));
    let at = offset;
    for (const segment of segments) {
      readFully(fd, segment, at, file);
      at += segment.byteLength;
    }
  }

  /**
   * out = theirs + ours, with `theirs` the other replica's vector in this replica's receiving file for
   * the attempt at `offset`. Read in blocks that stay in the cache, each added as it comes, so the
   * vector passes through memory once on its way in (not written to `out`, then read back to add).
   */
  addInto(attemptKey: string, offset: number, ours: Float32Array, out: Float32Array): void {
    if (out.length !== ours.length) throw new RangeError(`out has ${out.length} values, ours ${ours.length}`);
    const { fd, file } = this.fd(attemptKey, this.fileOf(this.id, attemptKey));
    const block = this.block;
    for (let from = 0; from < ours.length; from += block.length) {
      const n = Math.min(block.length, ours.length - from);
      readFully(fd, block.subarray(0, n), offset + from * 4, file);
      addBlock(out, ours, block, from, n);
    }
  }

  /** Closes the attempt's files and removes this replica's receiving file. */
  endAttempt(attemptKey: string): void {
    const files = this.open.get(attemptKey);
    this.open.delete(attemptKey);
    for (const [file, fd] of files ?? []) {
      closeQuietly(fd);
      this.layouts.delete(file);
      this.flagged.delete(file);
    }
    unlinkQuietly(this.fileOf(this.id, attemptKey));
    this.names.delete(attemptKey);
  }

  /** Ends every attempt and removes every receiving file of this link; the object is not used afterwards. */
  close(): void {
    this.closeAll();
    process.off('exit', this.onExit);
  }

  private fileOf(linkId: string, attemptKey: string): string {
    let names = this.names.get(attemptKey);
    if (!names) this.names.set(attemptKey, (names = new Map()));
    let file = names.get(linkId);
    if (file === undefined) {
      const attempt = createHash('sha256').update(attemptKey).digest('hex').slice(0, 12);
      names.set(linkId, (file = path.join(this.dir, `gan-study-peer-${linkId}-${attempt}.f32`)));
    }
    return file;
  }

  /** The receiving file of replica `peerId` (checked to be a link id: it goes into a path) for the attempt. */
  private peerFile(peerId: string, attemptKey: string): string {
    if (!LINK_ID_RE.test(peerId)) throw new Error(`bad shared exchange peer id ${JSON.stringify(peerId)}`);
    return this.fileOf(peerId, attemptKey);
  }

  private fd(attemptKey: string, file: string): { fd: number; file: string } {
    let files = this.open.get(attemptKey);
    if (!files) this.open.set(attemptKey, (files = new Map()));
    let fd = files.get(file);
    if (fd === undefined) {
      fd = fs.openSync(file, OPEN_FLAGS, 0o600);
      files.set(file, fd);
    }
    return { fd, file };
  }

  private closeAll(): void {
    for (const key of [...this.open.keys()]) this.endAttempt(key);
    // A peer may have created a receiving file of this link for an attempt this link never opened.
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      // the folder is gone
    }
    for (const name of names) if (name.startsWith(`gan-study-peer-${this.id}-`)) unlinkQuietly(path.join(this.dir, name));
  }

  /** Removes exchange files of processes that are gone, an hour after their last write. */
  private removeStale(): void {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = FILE_RE.exec(name);
      if (!m || Number(m[1]) === process.pid) continue;
      const file = path.join(this.dir, name);
      try {
        if (Date.now() - fs.statSync(file).mtimeMs < STALE_MS || alive(Number(m[1]))) continue;
        fs.unlinkSync(file);
      } catch {
        // removed by someone else meanwhile
      }
    }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

function unlinkQuietly(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // never made, or already gone
  }
}

function byteLengthOf(segments: readonly Float32Array[]): number {
  let n = 0;
  for (const s of segments) n += s.byteLength;
  return n;
}

/** out[from + i] = theirs[i] + ours[from + i] for i < n: a plain function, so V8 optimises the loop at once. */
function addBlock(out: Float32Array, ours: Float32Array, theirs: Float32Array, from: number, n: number): void {
  for (let i = 0; i < n; i++) out[from + i] = theirs[i] + ours[from + i];
}

function writeFully(fd: number, data: Float32Array | Float64Array, position: number, file: string): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let done = 0;
  while (done < bytes.length) {
    const n = fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
    if (n <= 0) throw new Error(`shared exchange file ${file}: write stopped at ${done} of ${bytes.length} bytes`);
    done += n;
  }
}

function readFully(fd: number, out: Float32Array, position: number, file: string): void {
  const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  let done = 0;
  while (done < bytes.length) {
    const n = fs.readSync(fd, bytes, done, bytes.length - done, position + done);
    if (n <= 0) throw new Error(`shared exchange file ${file}: ${done} of ${bytes.length} bytes at offset ${position} (the other replica wrote less than the vector)`);
    done += n;
  }
}
