// The AudioWorkletGlobalScope has no TextDecoder, TextEncoder or `self`.
// wasm-bindgen's glue needs the codecs at import time, and wasm-bindgen-rayon's
// worker helper (imported by the threaded glue) listens on `self` at import
// time. Imported first by the worklet entry points, before the glue.

function toBytes(input) {
  if (input === undefined || input === null) return new Uint8Array(0);
  if (input instanceof Uint8Array) return input;
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  return new Uint8Array(input);
}

class Utf8Decoder {
  constructor(label = 'utf-8', options = {}) {
    if (!/^utf-?8$/i.test(String(label))) throw new RangeError(`unsupported encoding ${label}`);
    this.fatal = Boolean(options.fatal);
    this.ignoreBOM = Boolean(options.ignoreBOM);
  }
  get encoding() { return 'utf-8'; }
  decode(input) {
    const bytes = toBytes(input);
    const units = [];
    let out = '';
    let i = bytes.length >= 3 && !this.ignoreBOM && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
    const bad = () => {
      if (this.fatal) throw new TypeError('invalid utf-8');
      return 0xfffd;
    };
    while (i < bytes.length) {
      const b0 = bytes[i];
      let cp;
      let len = 1;
      if (b0 < 0x80) cp = b0;
      else if (b0 >= 0xc2 && b0 < 0xe0) { len = 2; cp = b0 & 0x1f; }
      else if (b0 >= 0xe0 && b0 < 0xf0) { len = 3; cp = b0 & 0x0f; }
      else if (b0 >= 0xf0 && b0 < 0xf5) { len = 4; cp = b0 & 0x07; }
      else { cp = bad(); }
      for (let k = 1; k < len; k++) {
        const b = bytes[i + k];
        if (b === undefined || (b & 0xc0) !== 0x80) { cp = bad(); len = k; break; }
        cp = (cp << 6) | (b & 0x3f);
      }
      if (len > 1 && cp !== 0xfffd &&
          ((len === 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len === 4 && (cp < 0x10000 || cp > 0x10ffff)))) {
        cp = bad();
      }
      i += len;
      if (cp > 0xffff) {
        cp -= 0x10000;
        units.push(0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff));
      } else {
        units.push(cp);
      }
      if (units.length >= 4096) { out += String.fromCharCode.apply(null, units); units.length = 0; }
    }
    return out + String.fromCharCode.apply(null, units);
  }
}

class Utf8Encoder {
  get encoding() { return 'utf-8'; }
  encode(string = '') {
    const bytes = new Uint8Array(string.length * 3);
    return bytes.subarray(0, this.encodeInto(string, bytes).written);
  }
  encodeInto(string, dest) {
    let read = 0;
    let written = 0;
    for (let i = 0; i < string.length; i++) {
      let cp = string.charCodeAt(i);
      let units = 1;
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < string.length) {
        const lo = string.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo <= 0xdfff) { cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00); units = 2; }
      }
      if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // lone surrogate
      const need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      if (written + need > dest.length) break;
      if (need === 1) dest[written++] = cp;
      else {
        const lead = [0, 0, 0xc0, 0xe0, 0xf0][need];
        dest[written++] = lead | (cp >> (6 * (need - 1)));
        for (let k = need - 2; k >= 0; k--) dest[written++] = 0x80 | ((cp >> (6 * k)) & 0x3f);
      }
      i += units - 1;
      read += units;
    }
    return { read, written };
  }
}

if (typeof globalThis.TextDecoder === 'undefined') globalThis.TextDecoder = Utf8Decoder;
if (typeof globalThis.TextEncoder === 'undefined') globalThis.TextEncoder = Utf8Encoder;
if (typeof globalThis.self === 'undefined') {
  // Nothing posts messages to a worklet's global scope; listeners are inert.
  globalThis.self = { addEventListener() {}, removeEventListener() {} };
}

export { Utf8Decoder, Utf8Encoder };
