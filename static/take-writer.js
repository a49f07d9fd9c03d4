// Writes takes into the origin-private file system off the page's thread
// (issue 15; `app/src/take_store.rs` sends the work). A file is written
// whole through a synchronous access handle under a temporary name,
// flushed, then moved over its real name: it exists whole or not at all,
// and a crash loses at most the file being written. Messages are handled
// in order: `{ seq, id, name, bytes }` → `{ seq }` or `{ seq, error }`.

const ROOT = 'stemroom-takes';
let root = null;
const dirs = new Map();
let queue = Promise.resolve();

async function takeDir(id) {
  if (!root) {
    const origin = await navigator.storage.getDirectory();
    root = await origin.getDirectoryHandle(ROOT, { create: true });
  }
  let dir = dirs.get(id);
  if (!dir) {
    dir = await root.getDirectoryHandle(id, { create: true });
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

self.onmessage = (event) => {
  const message = event.data;
  if (message.forget) {
    // The take's directory is being removed by the page.
    queue = queue.then(() => dirs.delete(message.forget));
    return;
  }
  queue = queue
    .then(() => write(message))
    .then(
      () => self.postMessage({ seq: message.seq }),
      (e) => self.postMessage({ seq: message.seq, error: `${e?.name ?? 'Error'}: ${e?.message ?? e}` }),
    );
};
