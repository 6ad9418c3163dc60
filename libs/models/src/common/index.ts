export { ParamStore } from './params';
export type { Init, NamedArray } from './params';
export { Adam } from './adam';
export type { AdamConfig, AdamOptions, GradientFactors } from './adam';
export { encodeCheckpoint, decodeCheckpoint, assertSameConfig, CHECKPOINT_FORMAT, CHECKPOINT_VERSION } from './checkpoint';
export type { Checkpoint } from './checkpoint';
export { recordingTracer } from './summary';
export type { LayerSummary, Network, NetworkSummary, Tracer } from './summary';
export { DeviceImages } from './device-images';
