// The AudioWorklet processor that runs Stemroom's engine (see app/src/worklet.rs).
//
// Runs on the audio rendering thread. `process()` copies the input's
// channels in (recording), calls into wasm and copies two 128-frame buffers
// out; it creates no objects, except in the fallback (no shared memory),
// where it posts meter snapshots to the UI.

const QUANTUM = 128;
// Fallback only: quanta between meter posts (~21 ms at 48 kHz).
const METER_EVERY = 8;

export function registerEngineProcessor(glue) {
  class EngineProcessor extends AudioWorkletProcessor {
    constructor(options) {
      super();
      const o = options.processorOptions;
      try {
        if (o.memory) {
          // Shared memory: run on the page's memory and adopt the engine it built.
          glue.initSync({ module: o.module, memory: o.memory });
          this.memory = o.memory;
          this.engine = glue.WorkletEngine.adopt(o.slot);
          this.fallback = false;
        } else {
          // Fallback: our own instance and engine, commands through the port.
          this.memory = glue.initSync({ module: o.module }).memory;
          this.engine = glue.WorkletEngine.standalone(sampleRate);
          for (const c of o.commands ?? []) this.engine.command(c);
          this.port.onmessage = ({ data }) => {
            if (data instanceof Float64Array) {
              if (!this.engine.command(data)) {
                this.port.postMessage({ type: 'warning', message: `ignored command ${data}` });
              }
            } else if (data && data.type === 'project') {
              // A whole project: built here, between two quanta (see worklet.rs).
              try {
                this.engine.load_project(data.json, data.assets);
                this.port.postMessage({ type: 'loaded' });
              } catch (e) {
                this.port.postMessage({ type: 'error', message: String((e && e.message) || e) });
              }
            }
          };
          this.fallback = true;
          this.tick = 0;
        }
        this.bindViews();
      } catch (e) {
        this.port.postMessage({ type: 'error', message: String((e && e.stack) || e) });
        throw e;
      }
    }

    bindViews() {
      this.buffer = this.memory.buffer;
      this.left = new Float32Array(this.buffer, this.engine.output_ptr(0), QUANTUM);
      this.right = new Float32Array(this.buffer, this.engine.output_ptr(1), QUANTUM);
      this.inLeft = new Float32Array(this.buffer, this.engine.input_ptr(0), QUANTUM);
      this.inRight = new Float32Array(this.buffer, this.engine.input_ptr(1), QUANTUM);
    }

    process(inputs, outputs) {
      // Growing the memory replaces its buffer; views on the old one go stale.
      if (this.memory.buffer !== this.buffer) this.bindViews();
      // No input connected: an empty list (the engine hears silence).
      const input = inputs.length > 0 ? inputs[0] : inputs;
      if (input.length > 0) this.inLeft.set(input[0]);
      if (input.length > 1) this.inRight.set(input[1]);
      this.engine.capture(input.length);
      this.engine.process();
      // Growing the memory replaces its buffer; views on the old one go stale.
      if (this.memory.buffer !== this.buffer) this.bindViews();
      const out = outputs[0];
      out[0].set(this.left);
      if (out.length > 1) out[1].set(this.right);
      if (this.fallback && ++this.tick % METER_EVERY === 0) {
        const at = this.engine.meter_words_ptr();
        const words = this.engine.meter_words_len();
        this.port.postMessage(new Float64Array(this.memory.buffer.slice(at, at + 8 * words)));
      }
      return true;
    }
  }
  registerProcessor('stemroom-engine', EngineProcessor);
}
