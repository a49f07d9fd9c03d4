// Worklet entry for cross-origin isolated pages: the threaded, shared-memory build.
import './text-codec.js';
import * as glue from './stemroom_app.js';
import { registerEngineProcessor } from './engine-processor.js';

registerEngineProcessor(glue);
