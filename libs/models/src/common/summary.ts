/** What `study models` prints: each network's layers, output shapes and trainable parameter counts. */
import type * as tf from '@tensorflow/tfjs';

export interface LayerSummary {
  name: string;
  /** Output shape with the batch dimension first. */
  outputShape: number[];
  /** Trainable parameters this layer owns. */
  params: number;
}

export interface NetworkSummary {
  name: string;
  params: number;
  layers: LayerSummary[];
}

/**
 * Forward functions take an optional tracer and call it after each layer; a summary is a forward
 * pass on a batch of one with a tracer that records.
 */
/** Sees each layer's output (a tensor, or only its shape where the layer's kernel does not make it) and its parameter count. */
export type Tracer = (layer: string, output: { readonly shape: readonly number[] }, params: number) => void;

export function recordingTracer(): { tracer: Tracer; layers: LayerSummary[] } {
  const layers: LayerSummary[] = [];
  return { layers, tracer: (name, output, params) => layers.push({ name, outputShape: [...output.shape], params }) };
}

/**
 * A network built by a pure builder (`buildGenerator(cfg, store)`): its parameters live in the
 * ParamStore under `prefix`, and `apply` is its forward pass.
 */
export interface Network {
  name: string;
  /** Parameter-name prefix in the store, e.g. 'G' or 'D_A'. */
  prefix: string;
  apply(x: tf.Tensor, opts?: { training?: boolean; tracer?: Tracer }): tf.Tensor;
}
