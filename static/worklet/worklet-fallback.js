// Worklet entry for pages without cross-origin isolation: the non-shared build.
import './text-codec.js';
import * as glue from './stemroom_app_fallback.js';
import { registerEngineProcessor } from './engine-processor.js';

registerEngineProcessor(glue);
