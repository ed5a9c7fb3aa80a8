export * from './weights.js';
export * from './activations.js';
export * from './calibrate.js';
export * from './error.js';
export * from './outliers.js';
export * from './model-error.js';
