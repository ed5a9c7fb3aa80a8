/**
 * Zoo model specs: `configs/zoo/<name>.json`, validated here. A spec holds everything a
 * builder needs (sizes, seed, batch); nothing about a zoo model is decided in code.
 */
import { z } from 'zod';

const positive = z.number().int().positive();
const common = {
  description: z.string().min(1),
  /** Seeds every weight (see WeightGenerator). */
  seed: z.number().int().nonnegative(),
  batch: positive,
};

export const MlpSpec = z
  .object({
    family: z.literal('mlp'),
    ...common,
    inputFeatures: positive,
    /** Widths of the hidden layers; a ReLU follows each. */
    hidden: z.array(positive).min(1),
    outputFeatures: positive,
  })
  .strict();

export const BertSpec = z
  .object({
    family: z.literal('bert'),
    ...common,
    sequenceLength: positive,
    layers: positive,
    hidden: positive,
    heads: positive,
    intermediate: positive,
    vocabSize: positive,
    maxPositions: positive,
    typeVocabSize: positive,
    layerNormEps: z.number().positive(),
  })
  .strict()
  .refine((s) => s.hidden % s.heads === 0, { message: 'hidden must be a multiple of heads' })
  .refine((s) => s.sequenceLength <= s.maxPositions, { message: 'sequenceLength must not exceed maxPositions' });

export const MobileNetV2Spec = z
  .object({
    family: z.literal('mobilenet-v2'),
    ...common,
    imageSize: positive,
    widthMult: z.number().positive(),
    numClasses: positive,
  })
  .strict();

export const ResNetSpec = z
  .object({
    family: z.literal('resnet'),
    ...common,
    imageSize: positive,
    /** BasicBlocks per stage: [2, 2, 2, 2] is ResNet-18, [3, 4, 6, 3] ResNet-34. */
    blocks: z.array(positive).length(4),
    numClasses: positive,
  })
  .strict();

export const ZooSpec = z.union([MlpSpec, BertSpec, MobileNetV2Spec, ResNetSpec]);

export type MlpSpec = z.infer<typeof MlpSpec>;
export type BertSpec = z.infer<typeof BertSpec>;
export type MobileNetV2Spec = z.infer<typeof MobileNetV2Spec>;
export type ResNetSpec = z.infer<typeof ResNetSpec>;
export type ZooSpec = z.infer<typeof ZooSpec>;
