export type { Metric } from '../index/vectorIndex.js';
