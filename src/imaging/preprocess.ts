import { invalid } from '../errors.js';

/** How a photo becomes the model's input tensor. Stored with the catalog as part of the model's identity. */
export interface Preprocess {
  /** Side of the square input, in pixels. */
  readonly size: number;
  /** How a non-square photo fits the square: padded with the background colour, stretched, or centre-cropped. */
  readonly fit: 'pad' | 'stretch' | 'crop';
  /** Colour used for padding and for transparent pixels (catalog photos sit on white). */
  readonly background: readonly [number, number, number];
  /** Resampling filter of the fit: 'triangle' is bilinear, widened when shrinking (src/imaging/resample.ts). */
  readonly kernel: 'triangle';
  readonly channelOrder: 'RGB' | 'BGR';
  /** Pixel value = (byte * pixelScale - mean[c]) / std[c]. */
  readonly pixelScale: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  /**
   * Isolate the product before fitting (src/imaging/isolateProduct.ts): backdrop replaced with white,
   * cropped to the product. Absent when off, so catalogs embedded before the option existed keep their identity.
   */
  readonly isolate?: true;
}

/** ImageNet preprocessing as the ONNX model zoo cards give it (torchvision style). */
export const IMAGENET_PREPROCESS: Preprocess = Object.freeze({
  size: 224,
  fit: 'pad',
  background: [255, 255, 255] as const,
  kernel: 'triangle',
  channelOrder: 'RGB',
  pixelScale: 1 / 255,
  mean: [0.485, 0.456, 0.406] as const,
  std: [0.229, 0.224, 0.225] as const,
});

/** Caffe style: BGR bytes with the channel means subtracted (SqueezeNet 1.0 was trained this way). */
export const CAFFE_PREPROCESS: Preprocess = Object.freeze({
  ...IMAGENET_PREPROCESS,
  channelOrder: 'BGR',
  pixelScale: 1,
  mean: [103.94, 116.78, 123.68] as const,
  std: [1, 1, 1] as const,
});

export const PREPROCESS_PRESETS = { imagenet: IMAGENET_PREPROCESS, caffe: CAFFE_PREPROCESS } as const;
export type PreprocessPreset = keyof typeof PREPROCESS_PRESETS;

export function resolvePreprocess(
  preset: string,
  overrides: { size?: number; fit?: string; isolate?: boolean } = {},
): Preprocess {
  if (!(preset in PREPROCESS_PRESETS)) {
    throw invalid('preprocess', `one of ${Object.keys(PREPROCESS_PRESETS).join(', ')}`, preset);
  }
  const base = PREPROCESS_PRESETS[preset as PreprocessPreset];
  const size = overrides.size ?? base.size;
  if (!Number.isInteger(size) || size < 32 || size > 1024) throw invalid('size', 'an integer from 32 to 1024', size);
  const fit = overrides.fit ?? base.fit;
  if (fit !== 'pad' && fit !== 'stretch' && fit !== 'crop') throw invalid('fit', 'pad, stretch or crop', fit);
  return Object.freeze({ ...base, size, fit, ...(overrides.isolate ? { isolate: true as const } : {}) });
}
