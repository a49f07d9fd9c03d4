// Writes takes into the origin-private file system off the page's thread
// (issue 15; `app/src/take_writer.rs` sends the work). A file is written
// whole through a synchronous access handle under a temporary name,
// flushed, then moved over its real name: it exists whole or not at all,
// and a crash loses at most the file being written. Requests are done in
// the order they came: `{ seq, op: 'write', id, name, bytes }` or
// `{ seq, op: 'remove', id }` → `{ seq }` or `{ seq, error }`.

const ROOT = 'stemroom-takes';
let root = null;
const dirs = new Map();
let queue = Promise.resolve();

async function takes() {
  if (!root) {
    const origin = await navigator.storage.getDirectory();
    root = await origin.getDirectoryHandle(ROOT, { create: true });
  }
  return root;
}

async function takeDir(id) {
  let dir = dirs.get(id);
  if (!dir) {
    dir = await (await takes()).getDirectoryHandle(id, { create: true });
    dirs.set(id, dir);
  }
  return dir;
}

async function write({ id, name, bytes }) {
  const dir = await takeDir(id);
  const part = await dir.getFileHandle(`${name}.part`, { create: true });
  const handle = await part.createSyncAccessHandle();
  try {
    handle.truncate(0);
    const data = new Uint8Array(bytes);
    let at = 0;
    while (at < data.length) at += handle.write(data.subarray(at), { at });
    handle.flush();
  } finally {
    handle.close();
  }
  await part.move(name);
}

async function remove({ id }) {
  dirs.delete(id);
  try {
    await (await takes()).removeEntry(id, { recursive: true });
  } catch (e) {
    if (e?.name !== 'NotFoundError') throw e;
  }
}

self.onmessage = (event) => {
  const message = event.data;
  const work = message.op === 'remove' ? remove : write;
  queue = queue
    .then(() => work(message))
    .then(
      () => self.postMessage({ seq: message.seq }),
      (e) => self.postMessage({ seq: message.seq, error: `${e?.name ?? 'Error'}: ${e?.message ?? e}` }),
    );
};
